#include "teachers/torchscript_teacher.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "data/loader.h"

namespace segtransfer {
namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

torch::jit::Module load_module(const std::string& path, torch::Device device) {
  if (!std::filesystem::is_regular_file(path))
    throw Error(fmt::format("teacher.path: TorchScript file '{}' does not exist", path));
  try {
    torch::jit::Module module = torch::jit::load(path, device);
    module.eval();
    return module;
  } catch (const c10::Error& e) {
    throw Error(fmt::format("cannot load TorchScript model {}: {}", path, first_line(e.what_without_backtrace())));
  }
}

// Segmentation models return a tensor, a tuple or list led by the logits, or
// torchvision's dict {"out": ..., "aux": ...}.
torch::Tensor output_tensor(const c10::IValue& out) {
  if (out.isTensor()) return out.toTensor();
  c10::ArrayRef<c10::IValue> items;
  if (out.isTuple()) items = out.toTupleRef().elements();
  if (out.isList()) items = out.toListRef();
  for (const c10::IValue& item : items)
    if (item.isTensor()) return item.toTensor();
  if (out.isGenericDict()) {
    const auto dict = out.toGenericDict();
    for (const auto& entry : dict)
      if (entry.key().isString() && entry.key().toStringRef() == "out" && entry.value().isTensor())
        return entry.value().toTensor();
    for (const auto& entry : dict)
      if (entry.value().isTensor()) return entry.value().toTensor();
  }
  return {};
}

}  // namespace

TorchScriptTeacher::TorchScriptTeacher(std::string path, AnswerFormat format, std::array<double, 3> mean,
                                       std::array<double, 3> std, cv::Size input_size, torch::Device device)
    : Teacher(format.num_classes),
      path_(std::move(path)),
      format_(std::move(format)),
      mean_(mean),
      std_(std),
      input_size_(input_size),
      device_(device),
      module_(load_module(path_, device)) {}

TeacherAnswer TorchScriptTeacher::ask(const cv::Mat& bgr, const std::string& stem) {
  torch::NoGradGuard no_grad;  // a black box: its outputs only
  cv::Mat input = bgr;
  if (!input_size_.empty() && input_size_ != bgr.size()) cv::resize(bgr, input, input_size_, 0, 0, cv::INTER_LINEAR);
  const torch::Tensor x = image_to_tensor(input, mean_, std_).unsqueeze(0).to(device_);
  ++requests_;
  c10::IValue out;
  try {
    out = module_.forward({x});
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: the model failed on image {} ({}x{} input): {}", path_, stem, input.cols, input.rows,
                            first_line(e.what_without_backtrace())));
  }
  torch::Tensor logits = output_tensor(out);
  if (!logits.defined()) throw Error(fmt::format("{}: the model returned no tensor for image {}", path_, stem));
  if (logits.dim() == 4 && logits.size(0) == 1) logits = logits.squeeze(0);
  return decode_answer(logits.cpu(), format_, bgr.size(), fmt::format("{} (image {})", path_, stem));
}

std::string TorchScriptTeacher::describe() const {
  return fmt::format("TorchScript model {} ({} classes, {})", path_, format_.num_classes, format_.output);
}

}  // namespace segtransfer
