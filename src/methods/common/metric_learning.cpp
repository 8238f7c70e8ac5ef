#include "methods/common/metric_learning.h"

#include "core/error.h"

namespace segtransfer {

namespace F = torch::nn::functional;

MetricHeadImpl::MetricHeadImpl(const MetricHeadOptions& o)
    : conv1_(register_module("conv1",
                             torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.hidden_channels(), 1)))),
      conv2_(register_module("conv2",
                             torch::nn::Conv2d(torch::nn::Conv2dOptions(o.hidden_channels(), o.embedding_dim(), 1)))),
      proxies_(register_parameter("proxies", torch::randn({o.num_classes(), o.embedding_dim()}) /
                                                 std::sqrt(static_cast<double>(o.embedding_dim())))) {}

torch::Tensor MetricHeadImpl::forward(const torch::Tensor& features) {
  return F::normalize(conv2_->forward(torch::relu(conv1_->forward(features))), F::NormalizeFuncOptions().dim(1));
}

torch::Tensor MetricHeadImpl::normalised_proxies() const {
  return F::normalize(proxies_, F::NormalizeFuncOptions().dim(1));
}

torch::Tensor proxy_anchor_loss(const torch::Tensor& embeddings, const torch::Tensor& labels,
                                const torch::Tensor& proxies, double alpha, double delta) {
  if (embeddings.dim() != 2 || labels.dim() != 1 || embeddings.size(0) != labels.size(0) ||
      embeddings.size(1) != proxies.size(1))
    throw Error("proxy_anchor_loss: embeddings (N, D), labels (N) and proxies (C, D) do not fit: " +
                c10::str(embeddings.sizes(), " ", labels.sizes(), " ", proxies.sizes()));
  const int64_t classes = proxies.size(0);
  const auto cos = embeddings.matmul(proxies.t());                     // (N, C)
  const auto positive = F::one_hot(labels, classes).to(torch::kBool);  // (N, C)
  const auto zero = torch::zeros_like(cos);
  const auto pos_sum = torch::where(positive, torch::exp(-alpha * (cos - delta)), zero).sum(0);
  const auto neg_sum = torch::where(positive, zero, torch::exp(alpha * (cos + delta))).sum(0);
  const auto with_positive = positive.any(0);
  const auto n_positive = std::max<int64_t>(1, with_positive.sum().item<int64_t>());
  const auto pos_term = torch::where(with_positive, torch::log1p(pos_sum), torch::zeros_like(pos_sum)).sum() /
                        static_cast<double>(n_positive);
  const auto neg_term = torch::log1p(neg_sum).sum() / static_cast<double>(classes);
  return pos_term + neg_term;
}

torch::Tensor proxy_reliability(const torch::Tensor& embeddings, const torch::Tensor& labels,
                                const torch::Tensor& proxies, double alpha) {
  torch::NoGradGuard no_grad;
  const auto cos = torch::einsum("ndhw,cd->nchw", {embeddings, proxies});
  return torch::softmax(alpha * cos, 1).gather(1, labels.unsqueeze(1)).squeeze(1);
}

torch::Tensor class_balanced_reliability(const torch::Tensor& reliability, const torch::Tensor& labels,
                                         int64_t num_classes) {
  torch::NoGradGuard no_grad;
  if (reliability.sizes() != labels.sizes())
    throw Error("class_balanced_reliability: reliability and labels differ in shape");
  const auto r = reliability.flatten(), l = labels.flatten();
  const auto sums = torch::zeros({num_classes}, r.options()).index_add_(0, l, r);
  const auto counts = torch::zeros({num_classes}, r.options()).index_add_(0, l, torch::ones_like(r));
  const auto class_mean = sums / counts.clamp_min(1);
  const auto scale = r.mean() / class_mean.clamp_min(1e-6);
  return (reliability * scale.index({labels})).clamp_max(1.0);
}

}  // namespace segtransfer
