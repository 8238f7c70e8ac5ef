#include "methods/common/mixing.h"

#include <algorithm>
#include <vector>

#include "data/label_space.h"

namespace segtransfer {

namespace {
std::vector<int64_t> classes_present(const torch::Tensor& labels) {
  auto present = std::get<0>(at::_unique(labels.flatten(), /*sorted=*/true)).to(torch::kCPU);
  std::vector<int64_t> classes;
  for (int64_t i = 0; i < present.numel(); ++i) {
    const int64_t c = present[i].item<int64_t>();
    if (c != kIgnoreIndex) classes.push_back(c);
  }
  return classes;
}
}  // namespace

torch::Tensor class_mix_mask(const torch::Tensor& labels, std::mt19937_64& rng) {
  std::vector<int64_t> classes = classes_present(labels);
  auto mask = torch::zeros_like(labels, torch::kBool);
  if (classes.empty()) return mask;
  std::shuffle(classes.begin(), classes.end(), rng);
  classes.resize((classes.size() + 1) / 2);
  auto picked = torch::tensor(classes, torch::TensorOptions().dtype(torch::kLong).device(labels.device()));
  return torch::isin(labels, picked);
}

torch::Tensor reliable_class_mix_mask(const torch::Tensor& labels, const torch::Tensor& reliability,
                                      std::mt19937_64& rng) {
  std::vector<int64_t> classes = classes_present(labels);
  auto mask = torch::zeros_like(labels, torch::kBool);
  std::vector<torch::Tensor> of_class;
  std::vector<double> weight;
  for (int64_t c : classes) {
    of_class.push_back(labels == c);
    weight.push_back(std::max(1e-6, reliability.masked_select(of_class.back()).mean().item<double>()));
  }
  for (size_t n = 0, pick_count = (classes.size() + 1) / 2; n < pick_count; ++n) {
    const size_t k = std::discrete_distribution<size_t>(weight.begin(), weight.end())(rng);
    const auto r = reliability.masked_select(of_class[k]);
    // The lower median: a class of one pixel keeps nothing, which is the point.
    mask |= of_class[k] & (reliability > r.median());
    weight[k] = 0;  // without replacement
  }
  return mask;
}

torch::Tensor mix(const torch::Tensor& masks, const torch::Tensor& a, const torch::Tensor& b) {
  return torch::where(a.dim() == 4 ? masks.unsqueeze(1) : masks, a, b);
}

torch::Tensor mix_with_next(const torch::Tensor& masks, const torch::Tensor& batch) {
  return mix(masks, batch, batch.roll(-1, 0));
}

}  // namespace segtransfer
