#include "models/model_flops.h"

#include <ATen/record_function.h>

#include <cstring>

namespace segtransfer {

namespace {

thread_local int64_t* active_counter = nullptr;

// aten::convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
std::unique_ptr<at::ObserverContext> on_operator_start(const at::RecordFunction& fn) {
  if (active_counter == nullptr || std::strcmp(fn.name(), "aten::convolution") != 0) return nullptr;
  const auto inputs = fn.inputs();
  const at::Tensor& input = inputs[0].toTensor();
  const at::Tensor& weight = inputs[1].toTensor();
  // weight.numel() = out × in/groups × kernel for a convolution (in × out/groups
  // × kernel when transposed): the MACs per output (input) position.
  int64_t positions = input.size(0);
  if (inputs[6].toBool()) {
    for (int64_t d = 2; d < input.dim(); ++d) positions *= input.size(d);
  } else {
    const auto stride = inputs[3].toIntVector();
    const auto padding = inputs[4].toIntVector();
    const auto dilation = inputs[5].toIntVector();
    for (int64_t d = 2; d < input.dim(); ++d) {
      const size_t i = d - 2;
      const int64_t reach = dilation[i] * (weight.size(d) - 1) + 1;
      positions *= (input.size(d) + 2 * padding[i] - reach) / stride[i] + 1;
    }
  }
  *active_counter += positions * weight.numel();
  return nullptr;
}

}  // namespace

int64_t count_conv_macs(const std::function<void()>& run) {
  int64_t macs = 0;
  active_counter = &macs;
  const at::CallbackHandle handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(&on_operator_start).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
  try {
    run();
  } catch (...) {
    at::removeCallback(handle);
    active_counter = nullptr;
    throw;
  }
  at::removeCallback(handle);
  active_counter = nullptr;
  return macs;
}

int64_t count_conv_macs(SegmentationModelImpl& model, int64_t height, int64_t width) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const auto device = model.parameters().empty() ? torch::Device(torch::kCPU) : model.parameters().front().device();
  const torch::Tensor input = torch::zeros({1, 3, height, width}, torch::TensorOptions().device(device));
  const int64_t macs = count_conv_macs([&] { model.forward_features(input); });
  model.train(was_training);
  return macs;
}

}  // namespace segtransfer
