// First-order Taylor saliency of a network's parameters (CLDA): per parameter an
// EMA of |θ · ∂L/∂θ|; per layer (parameter tensor) the non-salient set is the
// parameters below a quantile of that layer's saliency.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace segtransfer {

class ParameterSaliency {
 public:
  // `parameters`: (name, tensor) of the network, in a fixed order.
  ParameterSaliency(std::vector<std::pair<std::string, torch::Tensor>> parameters, double momentum);

  // Folds |θ · grad| of the parameters' current gradients into the EMA (a
  // parameter without a gradient counts as 0).
  void accumulate();
  // Per layer, true where the saliency is below the layer's `quantile`.
  std::vector<torch::Tensor> non_salient_masks(double quantile) const;
  // Per layer, the share of parameters whose saliency is below `epsilon`.
  std::vector<std::pair<std::string, double>> saliency_rates(double epsilon) const;

  void save(torch::serialize::OutputArchive& archive, const std::string& key) const;
  void load(torch::serialize::InputArchive& archive, const std::string& key);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> parameters_;
  std::vector<torch::Tensor> saliency_;
  double momentum_;
  int64_t updates_ = 0;
};

// θ ← θ − lr · grad only where `masks` is true; no momentum or weight decay, so
// nothing outside the masks moves.
void masked_sgd_step(const std::vector<torch::Tensor>& parameters, const std::vector<torch::Tensor>& masks, double lr);

}  // namespace segtransfer
