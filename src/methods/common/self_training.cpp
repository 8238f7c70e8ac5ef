#include "methods/common/self_training.h"

#include "core/error.h"
#include "data/label_space.h"
#include "methods/common/mixing.h"

namespace segtransfer {

SelfTrainingOptions SelfTrainingOptions::from_config(const RunConfig& config) {
  const YAML::Node& t = config.tree;
  SelfTrainingOptions o;
  o.pseudo_threshold = config_value<double>(t, "self_training.pseudo_threshold");
  o.ema_momentum = config_value<double>(t, "self_training.ema_momentum");
  o.ignore_top = config_value<int>(t, "self_training.ignore_top");
  o.ignore_bottom = config_value<int>(t, "self_training.ignore_bottom");
  o.mix = config_value<bool>(t, "self_training.mix");
  o.strong_augment = config_value<bool>(t, "self_training.strong_augment");
  o.strong = StrongAugmentOptions::from_config(config, "self_training");
  if (o.pseudo_threshold < 0 || o.pseudo_threshold > 1)
    throw Error("config key 'self_training.pseudo_threshold' must be in [0, 1]");
  if (o.ignore_top < 0 || o.ignore_bottom < 0)
    throw Error("config keys 'self_training.ignore_top' and 'ignore_bottom' must be >= 0");
  return o;
}

torch::Tensor ignore_rows(const torch::Tensor& weight, int top, int bottom) {
  const int64_t h = weight.size(1);
  if (top + bottom >= h) return weight;  // a crop this short keeps every row
  auto w = weight.clone();
  if (top > 0) w.narrow(1, 0, top).zero_();
  if (bottom > 0) w.narrow(1, h - bottom, bottom).zero_();
  return w;
}

PseudoLabels confident_pseudo_labels(const torch::Tensor& teacher_logits, const SelfTrainingOptions& o) {
  torch::NoGradGuard no_grad;
  auto [confidence, labels] = torch::softmax(teacher_logits.detach(), 1).max(1);
  // DACS: the loss on the pseudo-labels is scaled by the share of confident pixels.
  auto share = (confidence >= o.pseudo_threshold).to(torch::kFloat32).mean({1, 2}, /*keepdim=*/true);
  auto weight = ignore_rows(share.expand_as(confidence).contiguous(), o.ignore_top, o.ignore_bottom);
  return {labels, confidence, weight};
}

PseudoLabels class_relative_pseudo_labels(const torch::Tensor& teacher_logits, const SelfTrainingOptions& o) {
  torch::NoGradGuard no_grad;
  const auto top2 = torch::softmax(teacher_logits.detach(), 1).topk(2, 1);
  const auto probabilities = std::get<0>(top2);
  const auto labels = std::get<1>(top2).select(1, 0);
  const auto confidence = probabilities.select(1, 0) - probabilities.select(1, 1);
  const int64_t classes = teacher_logits.size(1);
  const auto flat_labels = labels.flatten(), flat_confidence = confidence.flatten();
  const auto sums = torch::zeros({classes}, flat_confidence.options()).index_add_(0, flat_labels, flat_confidence);
  const auto counts = torch::bincount(flat_labels, /*weights=*/{}, classes).to(sums.dtype());
  const auto class_mean = sums / counts.clamp_min(1);
  const auto kept = (confidence >= class_mean.index({labels})).to(torch::kFloat32);
  return {labels, confidence, ignore_rows(kept, o.ignore_top, o.ignore_bottom)};
}

MixedBatch class_mix_source_onto_target(const torch::Tensor& source_images, const torch::Tensor& source_labels,
                                        const torch::Tensor& target_images, const PseudoLabels& pseudo,
                                        const SelfTrainingOptions& o, std::mt19937_64& rng) {
  torch::NoGradGuard no_grad;
  const int64_t b = target_images.size(0);
  if (source_images.size(0) != b || source_images.sizes().slice(2) != target_images.sizes().slice(2))
    throw Error("ClassMix: source and target batches must have the same size and crop (data.augment.crop)");
  MixedBatch m;
  if (o.mix) {
    std::vector<torch::Tensor> masks;
    for (int64_t i = 0; i < b; ++i) masks.push_back(class_mix_mask(source_labels[i], rng));
    m.masks = torch::stack(masks);
  } else {
    m.masks = torch::zeros_like(pseudo.labels, torch::kBool);
  }
  m.images = mix(m.masks, source_images, target_images);
  m.labels = mix(m.masks, source_labels, pseudo.labels);  // pasted ignore pixels stay ignored
  m.weight = mix(m.masks, torch::ones_like(pseudo.weight), pseudo.weight);
  if (o.strong_augment) m.images = strong_augment(m.images, o.strong, rng);
  return m;
}

void log_pseudo_labels(const PseudoLabels& pseudo, const torch::Tensor& truth, const std::string& prefix,
                       StepStats& stats) {
  stats[prefix + "pseudo_weight"] = pseudo.weight.mean().item<double>();
  if (!truth.defined()) return;
  auto judged = truth != kIgnoreIndex;
  stats[prefix + "pseudo_accuracy"] =
      ((pseudo.labels == truth) & judged).sum().item<double>() / std::max(1.0, judged.sum().item<double>());
}

}  // namespace segtransfer
