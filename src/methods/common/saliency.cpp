#include "methods/common/saliency.h"

#include "core/error.h"

namespace segtransfer {

ParameterSaliency::ParameterSaliency(std::vector<std::pair<std::string, torch::Tensor>> parameters, double momentum)
    : parameters_(std::move(parameters)), momentum_(momentum) {
  if (momentum < 0 || momentum >= 1) throw Error("saliency momentum must be in [0, 1)");
  for (const auto& [name, p] : parameters_) saliency_.push_back(torch::zeros_like(p, p.options().requires_grad(false)));
}

void ParameterSaliency::accumulate() {
  torch::NoGradGuard no_grad;
  // The first update takes the value itself, so early masks are not biased to 0.
  const double a = updates_ == 0 ? 0.0 : momentum_;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const torch::Tensor& p = parameters_[i].second;
    if (p.grad().defined())
      saliency_[i].mul_(a).add_((p.detach() * p.grad()).abs(), 1 - a);
    else
      saliency_[i].mul_(a);
  }
  ++updates_;
}

std::vector<torch::Tensor> ParameterSaliency::non_salient_masks(double quantile) const {
  if (quantile < 0 || quantile > 1) throw Error("non-salient quantile must be in [0, 1]");
  std::vector<torch::Tensor> masks;
  for (const auto& s : saliency_) {
    const auto threshold = torch::quantile(s.flatten().to(torch::kFloat64), quantile);
    masks.push_back(s.to(torch::kFloat64) < threshold);
  }
  return masks;
}

std::vector<std::pair<std::string, double>> ParameterSaliency::saliency_rates(double epsilon) const {
  std::vector<std::pair<std::string, double>> rates;
  for (size_t i = 0; i < saliency_.size(); ++i)
    rates.emplace_back(parameters_[i].first, (saliency_[i] < epsilon).to(torch::kFloat64).mean().item<double>());
  return rates;
}

void ParameterSaliency::save(torch::serialize::OutputArchive& archive, const std::string& key) const {
  torch::serialize::OutputArchive sub;
  for (size_t i = 0; i < saliency_.size(); ++i) sub.write(std::to_string(i), saliency_[i]);
  sub.write("updates", torch::tensor(updates_));
  archive.write(key, sub);
}

void ParameterSaliency::load(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::serialize::InputArchive sub;
  archive.read(key, sub);
  for (size_t i = 0; i < saliency_.size(); ++i) {
    torch::Tensor t;
    sub.read(std::to_string(i), t);
    saliency_[i].copy_(t);
  }
  torch::Tensor updates;
  sub.read("updates", updates);
  updates_ = updates.item<int64_t>();
}

void masked_sgd_step(const std::vector<torch::Tensor>& parameters, const std::vector<torch::Tensor>& masks, double lr) {
  if (parameters.size() != masks.size()) throw Error("masked_sgd_step: one mask per parameter");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const torch::Tensor& p = parameters[i];
    if (!p.grad().defined()) continue;
    p.sub_(p.grad() * masks[i].to(p.scalar_type()), lr);
  }
}

}  // namespace segtransfer
