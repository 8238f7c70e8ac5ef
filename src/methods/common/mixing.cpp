#include "methods/common/mixing.h"

#include <algorithm>

#include "data/label_space.h"

namespace segtransfer {

torch::Tensor class_mix_mask(const torch::Tensor& labels, std::mt19937_64& rng) {
  auto present = std::get<0>(at::_unique(labels.flatten(), /*sorted=*/true)).to(torch::kCPU);
  std::vector<int64_t> classes;
  for (int64_t i = 0; i < present.numel(); ++i) {
    const int64_t c = present[i].item<int64_t>();
    if (c != kIgnoreIndex) classes.push_back(c);
  }
  auto mask = torch::zeros_like(labels, torch::kBool);
  if (classes.empty()) return mask;
  std::shuffle(classes.begin(), classes.end(), rng);
  classes.resize((classes.size() + 1) / 2);
  auto picked = torch::tensor(classes, torch::TensorOptions().dtype(torch::kLong).device(labels.device()));
  return torch::isin(labels, picked);
}

torch::Tensor mix(const torch::Tensor& masks, const torch::Tensor& a, const torch::Tensor& b) {
  return torch::where(a.dim() == 4 ? masks.unsqueeze(1) : masks, a, b);
}

torch::Tensor mix_with_next(const torch::Tensor& masks, const torch::Tensor& batch) {
  return mix(masks, batch, batch.roll(-1, 0));
}

}  // namespace segtransfer
