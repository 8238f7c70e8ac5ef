#include "models/inference_fusion.h"

#include "core/error.h"
#include "models/batch_norm.h"

namespace segtransfer {
namespace {

// conv(x)·s + t with s = γ/√(σ² + ε), t = β − μ·s per output channel.
void fold_into(torch::nn::Conv2dImpl& conv, BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  const auto scale = bn.options.affine() ? bn.weight / torch::sqrt(bn.running_var + bn.options.eps())
                                         : 1 / torch::sqrt(bn.running_var + bn.options.eps());
  const auto shift = (bn.options.affine() ? bn.bias : torch::zeros_like(scale)) - bn.running_mean * scale;
  conv.weight.mul_(scale.view({-1, 1, 1, 1}));
  if (conv.bias.defined()) {
    conv.bias.mul_(scale).add_(shift);
  } else {
    // Conv2dImpl's forward reads this member; the registered "bias" stays undefined.
    conv.bias = shift.clone();
  }
  bn.mark_folded();
}

int64_t fold_pairs(torch::nn::Module& module) {
  int64_t folded = 0;
  const auto children = module.named_children();
  auto try_fold = [&](const std::shared_ptr<torch::nn::Module>& first,
                      const std::shared_ptr<torch::nn::Module>& second) {
    auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(first.get());
    auto* bn = dynamic_cast<BatchNorm2dImpl*>(second.get());
    if (conv && bn && !bn->folded() && bn->options.track_running_stats()) {
      fold_into(*conv, *bn);
      ++folded;
    }
  };
  if (dynamic_cast<torch::nn::SequentialImpl*>(&module)) {
    for (size_t i = 0; i + 1 < children.size(); ++i) try_fold(children[i].value(), children[i + 1].value());
  } else {
    for (const auto& item : children) {
      const std::string& name = item.key();
      if (name.rfind("conv", 0) != 0) continue;
      const std::string bn_name = "bn" + name.substr(4);
      if (const auto* bn = children.find(bn_name)) try_fold(item.value(), *bn);
    }
  }
  for (const auto& item : children) folded += fold_pairs(*item.value());
  return folded;
}

}  // namespace

int64_t fold_batch_norm(torch::nn::Module& model) {
  if (model.is_training()) throw Error("fold_batch_norm: the model must be in eval mode");
  return fold_pairs(model);
}

}  // namespace segtransfer
