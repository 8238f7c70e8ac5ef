#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "engine/runtime.h"
#include "eval/evaluator.h"
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
    std::string weights, input, out, ids = "train";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("predict", "segment an image or a folder: label-id PNG, colourised PNG and overlay");
  args->config.add_to(*cmd, /*allow_run_dir=*/true);
  cmd->add_option("-w,--weights", args->weights, "model weights (default: <run>/model.pt)");
  cmd->add_option("-i,--input", args->input, "an image or a folder of images")->required();
  cmd->add_option("-o,--out", args->out, "output folder")->required();
  cmd->add_option("--ids", args->ids, "ids in the label PNG: train (class index, e.g. CamVid 0-10) or cityscapes (labelIds)")
      ->check(CLI::IsMember({"train", "cityscapes"}));
  cmd->footer("Example:\n  segtransfer predict --run runs/corte --input data/synth/target/leftImg8bit/val --out preds/");
  cmd->callback([args] {
    RunConfig cfg = args->config.load();
    configure_threads(cfg.train.threads);
    torch::Device device = resolve_device(cfg.device);
    auto model = load_trained_model(cfg, args->config.run_dir, args->weights, device);
    fold_batch_norm(*model);  // inference only from here: one pass fewer per BatchNorm
    LabelSpace space = model_label_space(cfg);
    if (space.num_classes() != cfg.model.num_classes)
      throw Error("the model predicts " + std::to_string(cfg.model.num_classes) + " classes but its label space " +
                  space.name + " has " + std::to_string(space.num_classes()));
    fs::path out(args->out);
    auto images = collect_images(args->input);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < images.size(); ++i) {
      cv::Mat bgr = read_image_bgr(images[i].string());
      auto x = image_to_tensor(bgr, cfg.data.mean, cfg.data.std).unsqueeze(0).to(device);
      auto pred = infer_logits(*model, x, cfg.eval).argmax(1)[0].to(torch::kU8).cpu().contiguous();
      cv::Mat label(bgr.rows, bgr.cols, CV_8UC1, pred.data_ptr<uint8_t>());
      cv::Mat ids = label.clone();
      if (args->ids == "cityscapes")
        ids.forEach<uint8_t>([](uint8_t& v, const int*) { v = static_cast<uint8_t>(cityscapes_label_id_of_train_id(v)); });
      cv::Mat colour = colourise(label, space), overlay;
      cv::addWeighted(bgr, 0.5, colour, 0.5, 0.0, overlay);
      std::string stem = images[i].stem().string();
      write_png_atomically((out / (stem + ".png")).string(), ids);
      write_png_atomically((out / (stem + "_colour.png")).string(), colour);
      write_png_atomically((out / (stem + "_overlay.png")).string(), overlay);
      if ((i + 1) % 20 == 0 || i + 1 == images.size()) spdlog::info("predicted {}/{} images", i + 1, images.size());
    }
    std::cout << "wrote " << images.size() << " predictions to " << out.string() << "\n";
  });
}

}  // namespace segtransfer::cli
