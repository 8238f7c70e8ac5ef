#include "methods/common/losses.h"

#include "data/label_space.h"

namespace segtransfer {

torch::Tensor weighted_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                     const torch::Tensor& pixel_weight) {
  namespace F = torch::nn::functional;
  auto ce =
      F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kNone));
  return (ce * pixel_weight).mean();
}

torch::Tensor class_balance_weights(const std::vector<double>& pixels, double power) {
  auto counts = torch::tensor(pixels, torch::kFloat64);
  auto share = counts / counts.sum().clamp_min(1);
  auto w = torch::where(share > 0, share.clamp_min(1e-12).pow(-power), torch::zeros_like(share));
  return (w / (share * w).sum().clamp_min(1e-12)).to(torch::kFloat32);
}

torch::Tensor kept_share_weight(const torch::Tensor& labels) {
  return (labels != kIgnoreIndex).to(torch::kFloat32).mean({1, 2}, /*keepdim=*/true);
}

torch::Tensor soft_distillation_loss(const torch::Tensor& logits, const torch::Tensor& target,
                                     const torch::Tensor& valid, double temperature) {
  auto log_q = torch::log_softmax(logits / temperature, 1);
  // xlogy: 0 · log 0 = 0 for classes the target gives no mass.
  auto kl = (torch::xlogy(target, target) - target * log_q).sum(1);  // (B, H, W)
  auto v = valid.to(kl.dtype());
  return kl.mul(v).sum() / v.sum().clamp_min(1) * (temperature * temperature);
}

}  // namespace segtransfer
