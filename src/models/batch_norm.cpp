#include "models/batch_norm.h"

#include <torch/nn/functional/batchnorm.h>

namespace segtransfer {

BatchNorm2dImpl::BatchNorm2dImpl(const torch::nn::BatchNorm2dOptions& options) : options(options) { reset(); }

void BatchNorm2dImpl::reset() {
  const int64_t c = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
}

void BatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=" << options.momentum().value_or(-1) << ", affine=" << options.affine()
         << ", track_running_stats=" << options.track_running_stats() << (replica_sum_ ? ", synchronised" : "")
         << (folded_ ? ", folded" : "") << ")";
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() == 4, "BatchNorm2d expects a 4-D input, got ", input.dim(), "-D");
  if (folded_) {
    TORCH_CHECK(!is_training(), "BatchNorm2d was folded into its convolution for inference: it cannot train");
    return input;
  }
  TORCH_CHECK(options.momentum().has_value(), "BatchNorm2d needs a momentum (cumulative averages are not supported)");
  const double momentum = *options.momentum();
  const bool batch_statistics = is_training() || !options.track_running_stats();
  if (is_training() && options.track_running_stats()) num_batches_tracked += 1;
  if (!replica_sum_ || !is_training()) {
    return torch::nn::functional::detail::batch_norm(input, running_mean, running_var, weight, bias, batch_statistics,
                                                     momentum, options.eps());
  }
  const int64_t channels = input.size(1);
  // Sums in float64: E[x²] − E[x]² loses too much in float32 over large batches.
  const auto x = input.to(torch::kFloat64);
  const auto local = torch::cat({x.sum({0, 2, 3}), (x * x).sum({0, 2, 3}),
                                 torch::full({1}, static_cast<double>(input.numel() / channels), x.options())});
  const auto total = replica_sum_(local);
  const auto count = total.narrow(0, 2 * channels, 1);
  const auto mean = total.narrow(0, 0, channels) / count;
  const auto var = total.narrow(0, channels, channels) / count - mean * mean;
  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    const auto unbiased = var.detach() * count / (count - 1);
    running_mean.mul_(1 - momentum).add_(mean.detach().to(running_mean.scalar_type()), momentum);
    running_var.mul_(1 - momentum).add_(unbiased.to(running_var.scalar_type()), momentum);
  }
  const std::vector<int64_t> shape{1, channels, 1, 1};
  const auto invstd = torch::rsqrt(var + options.eps()).to(input.scalar_type()).view(shape);
  auto y = (input - mean.to(input.scalar_type()).view(shape)) * invstd;
  if (options.affine()) y = y * weight.view(shape) + bias.view(shape);
  return y;
}

void keep_batch_norm_statistics(torch::nn::Module& module) {
  for (const auto& m : module.modules())
    if (auto* bn = m->as<BatchNorm2dImpl>()) bn->eval();
}

void keep_batch_norm_statistics(torch::nn::Module& module, const std::unordered_set<std::string>& loaded) {
  for (const auto& item : module.named_modules())
    if (auto* bn = item.value()->as<BatchNorm2dImpl>(); bn && loaded.count(item.key() + ".running_mean")) bn->eval();
}

EvalModeScope::EvalModeScope(torch::nn::Module& module) {
  // modules() lists the module itself first and parents before children, so restoring in
  // this order lets each child's own mode override its parent's recursive train().
  for (const auto& m : module.modules()) modes_.emplace_back(m, m->is_training());
  module.eval();
}

EvalModeScope::~EvalModeScope() {
  for (const auto& [m, training] : modes_) m->train(training);
}

void synchronise_batch_norm(torch::nn::Module& module, const ReplicaSum& sum) {
  for (const auto& m : module.modules())
    if (auto* bn = m->as<BatchNorm2dImpl>()) bn->synchronise_with(sum);
}

}  // namespace segtransfer
