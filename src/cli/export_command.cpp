#include <filesystem>
#include <opencv2/dnn.hpp>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "engine/runtime.h"
#include "eval/onnx_segmenter.h"
#include "models/onnx_export.h"
#include "models/torchscript_export.h"
#include "models/weight_import.h"

namespace segtransfer::cli {
namespace fs = std::filesystem;

namespace {

// Largest |logit| difference between OpenCV DNN running the file and LibTorch
// running the model on the same input: the export is checked before it is kept.
double onnx_parity(const std::string& onnx_path, const torch::Tensor& input, const torch::Tensor& expected) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx_path);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  const torch::Tensor x = input.contiguous();
  const int shape[] = {1, 3, static_cast<int>(x.size(2)), static_cast<int>(x.size(3))};
  net.setInput(cv::Mat(4, shape, CV_32F, x.data_ptr<float>()), "image");
  cv::Mat out = net.forward("logits");
  if (static_cast<int64_t>(out.total()) != expected.numel())
    throw Error("the exported graph returns logits of the wrong shape in OpenCV DNN");
  const torch::Tensor got = torch::from_blob(out.ptr<float>(), expected.sizes(), torch::kFloat32);
  return (got - expected).abs().max().item<double>();
}

void export_onnx_bundle(SegmentationModelImpl& model, const RunConfig& cfg, cv::Size size, const fs::path& output) {
  // Reference logits and the checkpoint come from the unfolded model.
  model.eval();
  torch::manual_seed(0);
  const torch::Tensor input = torch::randn({1, 3, size.height, size.width});
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model.forward(input).contiguous();
  }
  // Graph and weights go to temporary names until OpenCV DNN has reproduced the
  // logits: a failed export leaves no file and keeps an earlier export's intact.
  const fs::path checkpoint = fs::path(output).replace_extension("").string() + "_weights.pt";
  const fs::path unchecked = output.string() + ".unchecked", unchecked_weights = checkpoint.string() + ".unchecked";
  save_state_dict(model, unchecked_weights.string());  // before the fold: a state_dict users can load
  OnnxExportSummary summary;
  double diff = 0;
  constexpr double kTolerance = 1e-3;
  try {
    summary = export_onnx(model, size, unchecked.string());
    try {
      diff = onnx_parity(unchecked.string(), input, expected);
    } catch (const cv::Exception& e) {
      throw Error("OpenCV DNN cannot run the exported graph (" + e.msg + "); nothing written");
    }
    if (!(diff <= kTolerance))
      throw Error(fmt::format("OpenCV DNN's logits differ from LibTorch's by {:.2e} (> {:.0e}); nothing written", diff,
                              kTolerance));
  } catch (...) {
    std::error_code ec;
    fs::remove(unchecked, ec);
    fs::remove(unchecked_weights, ec);
    throw;
  }
  OnnxSidecar sidecar;
  sidecar.architecture = model.architecture();
  sidecar.labels = model_label_space(cfg);
  sidecar.mean = cfg.data.mean;
  sidecar.std = cfg.data.std;
  sidecar.input_size = size;
  sidecar.opset = kOnnxOpset;
  sidecar.onnx_file = output.filename().string();
  sidecar.checkpoint_file = checkpoint.filename().string();
  sidecar.write(sidecar_path_of(output.string()));
  fs::rename(unchecked_weights, checkpoint);
  fs::rename(unchecked, output);
  spdlog::info(
      "wrote {} (ONNX opset {}, {} nodes, {} BatchNorms folded; input 'image' (1, 3, {}, {}), output "
      "'logits'), {} and {}",
      output.string(), kOnnxOpset, summary.nodes, summary.folded_batch_norms, size.height, size.width,
      sidecar_path_of(output.string()), checkpoint.string());
  spdlog::info("checked in OpenCV DNN: max |logit difference| vs LibTorch {:.2e} (tolerance {:.0e})", diff, kTolerance);
}

}  // namespace

void add_export_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string weights, output, size, format;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "export",
      "write a trained model for deployment (ONNX for OpenCV DNN and other runtimes) or as a TorchScript file");
  args->config.add_to(*cmd, /*allow_run_dir=*/true);
  cmd->add_option("-w,--weights", args->weights, "model weights (default: <run>/model.pt)");
  cmd->add_option("-o,--output", args->output, "the file to write: .onnx (ONNX) or .pt (TorchScript)")->required();
  cmd->add_option("--size", args->size, "input size WxH the graph is traced at (the deployed input size)")->required();
  cmd->add_option("--format", args->format, "onnx | torchscript (default: from the output's extension)")
      ->check(CLI::IsMember({"onnx", "torchscript"}));
  cmd->footer(
      "ONNX writes three files: X.onnx (BatchNorm folded, checked in OpenCV DNN before it is kept),\n"
      "X.json (label space, mean/std, input size) and X_weights.pt (the LibTorch state_dict).\n"
      "Examples:\n"
      "  segtransfer export --run runs/demo/corte -o student.onnx --size 1024x512\n"
      "  segtransfer predict --onnx student.onnx --input images/ --out preds/\n"
      "  segtransfer export --run runs/demo/source_only -o black_box.pt --size 320x160   # TorchScript");
  cmd->callback([args] {
    RunConfig cfg = args->config.load();
    configure_threads(cfg.train.threads);
    std::string format = args->format;
    const std::string ext = fs::path(args->output).extension().string();
    if (format.empty()) {
      if (ext == ".onnx")
        format = "onnx";
      else if (ext == ".pt")
        format = "torchscript";
      else
        throw Error("--output " + args->output + ": give a .onnx or .pt file, or --format");
    }
    auto model = load_trained_model(cfg, args->config.run_dir, args->weights, torch::kCPU);
    auto [w, h] = parse_size(args->size, "--size");
    if (format == "onnx") {
      export_onnx_bundle(*model, cfg, cv::Size(w, h), args->output);
    } else {
      export_torchscript(*model, cv::Size(w, h), args->output);
      spdlog::info("wrote {} (TorchScript, traced at {}x{}: outputs logits (1, {}, {}, {}))", args->output, w, h,
                   model->num_classes(), h, w);
    }
  });
}

}  // namespace segtransfer::cli
