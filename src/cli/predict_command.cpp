#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "engine/runtime.h"
#include "eval/evaluator.h"
#include "eval/onnx_segmenter.h"
#include "models/inference_fusion.h"

namespace segtransfer::cli {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> collect_images(const fs::path& input) {
  if (!fs::exists(input)) throw Error("--input " + input.string() + " does not exist");
  if (fs::is_regular_file(input)) return {input};
  std::vector<fs::path> images;
  for (const auto& e : fs::recursive_directory_iterator(input)) {
    auto ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) images.push_back(e.path());
  }
  std::sort(images.begin(), images.end());
  if (images.empty()) throw Error("--input " + input.string() + ": no .png/.jpg images found");
  return images;
}

}  // namespace

void add_predict_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string weights, onnx, input, out, ids = "train";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("predict", "segment an image or a folder: label-id PNG, colourised PNG and overlay");
  args->config.add_to(*cmd, /*allow_run_dir=*/true);
  cmd->add_option("-w,--weights", args->weights, "model weights (default: <run>/model.pt)");
  cmd->add_option("--onnx", args->onnx,
                  "an exported .onnx student (segtransfer export), run by OpenCV DNN without LibTorch; "
                  "reads its .json sidecar, needs no --run/--config");
  cmd->add_option("-i,--input", args->input, "an image or a folder of images")->required();
  cmd->add_option("-o,--out", args->out, "output folder")->required();
  cmd->add_option("--ids", args->ids,
                  "ids in the label PNG: train (class index, e.g. CamVid 0-10) or cityscapes (labelIds)")
      ->check(CLI::IsMember({"train", "cityscapes"}));
  cmd->footer(
      "Examples:\n"
      "  segtransfer predict --run runs/corte --input data/synth/target/leftImg8bit/val --out preds/\n"
      "  segtransfer predict --onnx student.onnx --input camera/ --out preds/   # the deployment path");
  cmd->callback([args] {
    const auto images = collect_images(args->input);
    const fs::path out(args->out);
    ProgressLine progress("predict", "img", static_cast<int64_t>(images.size()));
    auto write_outputs = [&](size_t i, const cv::Mat& bgr, const cv::Mat& label, const LabelSpace& space) {
      cv::Mat ids = label.clone();
      if (args->ids == "cityscapes")
        ids.forEach<uint8_t>(
            [](uint8_t& v, const int*) { v = static_cast<uint8_t>(cityscapes_label_id_of_train_id(v)); });
      cv::Mat colour = colourise(label, space), overlay;
      cv::addWeighted(bgr, 0.5, colour, 0.5, 0.0, overlay);
      const std::string stem = images[i].stem().string();
      write_png_atomically((out / (stem + ".png")).string(), ids);
      write_png_atomically((out / (stem + "_colour.png")).string(), colour);
      write_png_atomically((out / (stem + "_overlay.png")).string(), overlay);
      progress.update(static_cast<int64_t>(i + 1));
    };
    if (!args->onnx.empty()) {
      if (!args->config.config_file.empty() || !args->config.run_dir.empty() || !args->weights.empty())
        throw Error("--onnx runs the exported file alone: drop --config/--run/--weights");
      OnnxSegmenter segmenter(args->onnx);
      for (size_t i = 0; i < images.size(); ++i) {
        const cv::Mat bgr = read_image_bgr(images[i].string());
        write_outputs(i, bgr, segmenter.predict(bgr), segmenter.info().labels);
      }
      std::cout << "wrote " << images.size() << " predictions to " << out.string() << " (OpenCV DNN, " << args->onnx
                << ")\n";
      return;
    }
    RunConfig cfg = args->config.load();
    configure_threads(cfg.train.threads);
    torch::Device device = resolve_device(cfg.device);
    auto model = load_trained_model(cfg, args->config.run_dir, args->weights, device);
    fold_batch_norm(*model);  // inference only from here: one pass fewer per BatchNorm
    // Predictions in the data's label space: with eval.mapping, a model of other classes
    // (e.g. Cityscapes') is mapped onto it as evaluation maps it.
    const LabelSpace space = model_label_space(cfg);
    const ClassMapFn class_map = class_map_of(*model, space, cfg.eval);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < images.size(); ++i) {
      const cv::Mat bgr = read_image_bgr(images[i].string());
      auto x = image_to_tensor(bgr, cfg.data.mean, cfg.data.std).unsqueeze(0).to(device);
      auto pred = class_map(infer_logits(*model, x, cfg.eval))[0].to(torch::kU8).cpu().contiguous();
      write_outputs(i, bgr, cv::Mat(bgr.rows, bgr.cols, CV_8UC1, pred.data_ptr<uint8_t>()), space);
    }
    std::cout << "wrote " << images.size() << " predictions to " << out.string() << "\n";
  });
}

}  // namespace segtransfer::cli
