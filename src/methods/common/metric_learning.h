// Proxy-based metric learning on a teacher's encoder features (STvM): a small
// head embeds each feature pixel on the unit sphere, one learnable proxy per
// class; the Proxy-Anchor loss (Kim et al., CVPR 2020) pulls pixels to their
// class's proxy; a pixel's reliability is how strongly its embedding picks the
// teacher's class among all proxies.
#pragma once
#include <torch/torch.h>

namespace segtransfer {

struct MetricHeadOptions {
  MetricHeadOptions(int64_t in_channels, int64_t num_classes) : in_channels_(in_channels), num_classes_(num_classes) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, hidden_channels) = 128;
  TORCH_ARG(int64_t, embedding_dim) = 64;
};

class MetricHeadImpl : public torch::nn::Module {
 public:
  explicit MetricHeadImpl(const MetricHeadOptions& options);
  // (N, in, h, w) features → (N, D, h, w) L2-normalised embeddings.
  torch::Tensor forward(const torch::Tensor& features);
  // (C, D) L2-normalised proxies.
  torch::Tensor normalised_proxies() const;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::Tensor proxies_;
};
TORCH_MODULE(MetricHead);

// Proxy-Anchor loss of embeddings (N, D) with labels (N) against proxies (C, D),
// all unit vectors, s = cosine:
//   1/|P+| Σ_{p∈P+} log(1 + Σ_{x: y=p} e^{−α(s(x,p) − δ)}) + 1/C Σ_p log(1 + Σ_{x: y≠p} e^{α(s(x,p) + δ)})
// where P+ are the classes with a pixel in the batch.
torch::Tensor proxy_anchor_loss(const torch::Tensor& embeddings, const torch::Tensor& labels,
                                const torch::Tensor& proxies, double alpha, double delta);

// Per pixel, softmax over classes of α·cos(embedding, proxy) taken at `labels`:
// embeddings (N, D, h, w), labels (N, h, w) → (N, h, w) in (0, 1), no gradient.
torch::Tensor proxy_reliability(const torch::Tensor& embeddings, const torch::Tensor& labels,
                                const torch::Tensor& proxies, double alpha);

// Reliabilities (any shape) of pixels labelled `labels` (same shape), each class's
// rescaled so that its mean is the mean over all pixels, capped at 1: the class prior a
// metric head learns (on CamVid, road ~0.6 and sidewalk ~0.07 though both are ~82% right)
// goes, the ranking within a class stays. No gradient.
torch::Tensor class_balanced_reliability(const torch::Tensor& reliability, const torch::Tensor& labels,
                                         int64_t num_classes);

}  // namespace segtransfer
