#include "methods/stvm.h"

#include "core/error.h"
#include "data/class_mapping.h"
#include "data/dataset.h"
#include "data/label_space.h"
#include "methods/common/losses.h"
#include "methods/common/mixing.h"
#include "methods/common/strong_augment.h"
#include "teachers/white_box.h"

namespace segtransfer {

namespace F = torch::nn::functional;

StvmOptions StvmOptions::from_config(const RunConfig& config) {
  const YAML::Node& t = config.tree;
  StvmOptions o;
  o.source_weights = config_value<std::string>(t, "stvm.source_weights");
  o.embedding_dim = config_value<int64_t>(t, "stvm.embedding_dim");
  o.max_anchor_pixels = config_value<int64_t>(t, "stvm.max_anchor_pixels");
  o.alpha = config_value<double>(t, "stvm.alpha");
  o.delta = config_value<double>(t, "stvm.delta");
  o.sharpen = config_value<double>(t, "stvm.sharpen");
  o.metric_weight = config_value<double>(t, "stvm.metric_weight");
  o.metric_mix = config_value<bool>(t, "stvm.metric_mix");
  o.freeze_backbone = config_value<bool>(t, "stvm.freeze_backbone");
  o.balance_reliability = config_value<bool>(t, "stvm.balance_reliability");
  o.weighting = config_choice(
      t, "stvm.weighting",
      std::array<std::pair<std::string_view, StvmWeighting>, 3>{{{"reliability", StvmWeighting::kReliability},
                                                                 {"threshold", StvmWeighting::kThreshold},
                                                                 {"class_relative", StvmWeighting::kClassRelative}}});
  if (o.source_weights.empty())
    throw Error(
        "config key 'stvm.source_weights' is empty: STvM starts from the white-box source model "
        "(a source_only run's model.pt of the same architecture as model.name)");
  if (o.embedding_dim < 2 || o.max_anchor_pixels < 1 || o.alpha <= 0 || o.sharpen <= 0)
    throw Error(
        "config keys 'stvm.embedding_dim' (>= 2), 'max_anchor_pixels' (>= 1), 'alpha' and 'sharpen' (> 0) "
        "are out of range");
  return o;
}

namespace {
const char* const kTeacherKey = "stvm_teacher";
const char* const kMetricKey = "stvm_metric_head";

// The student, with the source model's weights: the teacher is copied from it.
SegmentationModelImpl& with_weights(SegmentationModelImpl& model, const std::string& path) {
  load_weights_for_key("stvm.source_weights", path, model);
  return model;
}

// (B, H, W) labels at a (h, w) feature grid, nearest.
torch::Tensor labels_at(const torch::Tensor& labels, at::IntArrayRef size) {
  return F::interpolate(labels.unsqueeze(1).to(torch::kFloat32),
                        F::InterpolateFuncOptions().size(size.vec()).mode(torch::kNearest))
      .squeeze(1)
      .to(torch::kLong);
}
}  // namespace

torch::Tensor stvm_reliability(const torch::Tensor& embeddings, const torch::Tensor& labels,
                               const torch::Tensor& proxies, const StvmOptions& options) {
  torch::NoGradGuard no_grad;
  const auto grid_labels = labels_at(labels, embeddings.sizes().slice(2));
  const auto at_grid = proxy_reliability(embeddings.detach(), grid_labels, proxies.detach(), options.alpha);
  const auto reliability =
      F::interpolate(
          at_grid.unsqueeze(1),
          F::InterpolateFuncOptions().size(labels.sizes().slice(1).vec()).mode(torch::kBilinear).align_corners(false))
          .squeeze(1)
          .pow(options.sharpen);
  return options.balance_reliability ? class_balanced_reliability(reliability, labels, proxies.size(0)) : reliability;
}

StvmTeacher load_stvm_teacher(torch::serialize::InputArchive& method_state, const RunConfig& config,
                              torch::Device device) {
  StvmTeacher t;
  t.options = StvmOptions::from_config(config);
  t.model = make_model(config.model.name, config.model.num_classes);
  t.metric = MetricHead(
      MetricHeadOptions(t.model->feature_channels(), config.model.num_classes).embedding_dim(t.options.embedding_dim));
  torch::serialize::InputArchive teacher, metric;
  if (!method_state.try_read(kTeacherKey, teacher) || !method_state.try_read(kMetricKey, metric))
    throw Error("the checkpoint holds no STvM teacher and metric head: was this run trained with method stvm?");
  try {
    t.model->load(teacher);
    t.metric->load(metric);
  } catch (const c10::Error& e) {
    throw Error("the checkpoint's STvM state does not fit model " + config.model.name + " with stvm.embedding_dim " +
                std::to_string(t.options.embedding_dim) + ": " +
                std::string(e.what_without_backtrace()).substr(0, 200));
  }
  t.model->to(device);
  t.metric->to(device);
  t.model->eval();
  t.metric->eval();
  return t;
}

Stvm::Stvm(MethodContext context)
    : TrainingMethod(std::move(context)),
      options_(StvmOptions::from_config(config())),
      self_training_(SelfTrainingOptions::from_config(config())),
      target_(open_loader(config().data.target, "target", 1)),
      teacher_(config().model.name, with_weights(student(), options_.source_weights), ctx_.device, EmaStart::kTrained,
               EmaStatistics::kAveraged),
      metric_(MetricHeadOptions(student().feature_channels(), config().model.num_classes)
                  .embedding_dim(options_.embedding_dim)) {
  metric_->to(ctx_.device);
  // A frozen encoder computes no weight gradient, which the optimiser then skips: the
  // step is cheaper and the encoder stays the source model's.
  if (options_.freeze_backbone)
    for (auto& p : student().backbone_parameters()) p.requires_grad_(false);
  if (config().data.target.labels)  // pseudo-labels judged in the labels' classes (a Cityscapes model on CamVid)
    truth_class_of_ = target_class_table(
        eval_class_mapping(config().eval.mapping, config().model.num_classes, target_.dataset().label_space()),
        ctx_.device);
}

StepStats Stvm::train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) {
  StepStats stats;
  const Batch target = target_.next();
  const auto images = target.image.to(ctx_.device, /*non_blocking=*/true);
  std::mt19937_64 rng = step_rng(config(), step.iteration);

  // 1. The teacher's labels (all of them) and encoder features, on the weak view.
  SegOutput teacher;
  torch::Tensor labels;
  {
    torch::NoGradGuard no_grad;
    teacher = teacher_.model().forward_upsampled(images);
    labels = teacher.logits.argmax(1);
  }
  // 2-3. The metric head and its reliabilities, where STvM's weights or its mix read them.
  // The mean teacher (threshold or class_relative weights, plain ClassMix) skips them: its
  // step costs what a user's mean teacher costs, so equal budgets give it its own steps.
  const bool uses_metric =
      options_.weighting == StvmWeighting::kReliability || (self_training_.mix && options_.metric_mix);
  torch::Tensor metric_loss, reliability;
  if (uses_metric) {
    // 2. The metric head learns the teacher's classes on its (frozen) features.
    const auto embeddings = metric_->forward(teacher.features);  // (B, D, h, w)
    const auto grid_labels = labels_at(labels, embeddings.sizes().slice(2));
    const auto flat = embeddings.permute({0, 2, 3, 1}).reshape({-1, embeddings.size(1)});
    auto anchors = torch::randperm(flat.size(0), torch::TensorOptions().dtype(torch::kLong).device(flat.device()));
    anchors = anchors.narrow(0, 0, std::min<int64_t>(options_.max_anchor_pixels, flat.size(0)));
    metric_loss =
        checked_loss(proxy_anchor_loss(flat.index_select(0, anchors), grid_labels.flatten().index_select(0, anchors),
                                       metric_->normalised_proxies(), options_.alpha, options_.delta),
                     step.iteration, "Proxy-Anchor loss");
    // 3. Reliability of each pseudo-label: its class's share of the proxy softmax.
    reliability = ignore_rows(stvm_reliability(embeddings, labels, metric_->normalised_proxies(), options_),
                              self_training_.ignore_top, self_training_.ignore_bottom);
  }
  // The ablations: the same mean teacher with DACS's weights or per-class relative thresholds.
  const torch::Tensor weight = options_.weighting == StvmWeighting::kReliability ? reliability
                               : options_.weighting == StvmWeighting::kThreshold
                                   ? confident_pseudo_labels(teacher.logits, self_training_).weight
                                   : class_relative_pseudo_labels(teacher.logits, self_training_).weight;

  // 4. Each image mixed with the next one in the batch, strong view, weighted CE.
  torch::Tensor masks;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> per_image;
    for (int64_t i = 0; i < images.size(0); ++i)
      per_image.push_back(!self_training_.mix   ? torch::zeros_like(labels[i], torch::kBool)
                          : options_.metric_mix ? reliable_class_mix_mask(labels[i], reliability[i], rng)
                                                : class_mix_mask(labels[i], rng));
    masks = torch::stack(per_image);
  }
  auto mixed = mix_with_next(masks, images);
  if (self_training_.strong_augment) mixed = strong_augment(mixed, self_training_.strong, rng);
  const auto mixed_labels = mix_with_next(masks, labels), mixed_weight = mix_with_next(masks, weight);

  optimizer.zero_grad();
  const auto logits = student().forward(mixed);
  const auto ce = checked_loss(weighted_cross_entropy(logits, mixed_labels, mixed_weight), step.iteration,
                               "reliability-weighted CE");
  backward(uses_metric ? ce + options_.metric_weight * metric_loss : ce);
  optimizer.step();
  teacher_.update(student(), step.iteration, self_training_.ema_momentum);

  stats["weighted_ce"] = ce.item<double>();
  stats["loss"] = stats["weighted_ce"];
  if (uses_metric) {
    stats["metric_loss"] = metric_loss.item<double>();
    stats["loss"] += options_.metric_weight * stats["metric_loss"];
    stats["reliability"] = reliability.mean().item<double>();
  }
  stats["pixel_weight"] = weight.mean().item<double>();
  record_reliability_diagnostics(labels, reliability, target, stats);
  return stats;
}

void Stvm::record_reliability_diagnostics(const torch::Tensor& labels, const torch::Tensor& reliability,
                                          const Batch& target, StepStats& stats) const {
  if (!target.label.defined() || !truth_class_of_.defined()) return;
  // Do the weights single out the right pseudo-labels?
  const auto truth = target.label.to(ctx_.device);
  const auto as_truth = truth_class_of_.index({labels});
  const auto judged = truth != kIgnoreIndex, right = (as_truth == truth) & judged, wrong = (as_truth != truth) & judged;
  stats["pseudo_accuracy"] = right.sum().item<double>() / std::max(1.0, judged.sum().item<double>());
  if (!reliability.defined()) return;  // the mean teacher computes none
  if (right.any().item<bool>()) stats["reliability_right"] = reliability.masked_select(right).mean().item<double>();
  if (wrong.any().item<bool>()) stats["reliability_wrong"] = reliability.masked_select(wrong).mean().item<double>();
}

void Stvm::save_state(torch::serialize::OutputArchive& archive) const {
  teacher_.save(archive, kTeacherKey);
  torch::serialize::OutputArchive metric;
  metric_->save(metric);
  archive.write(kMetricKey, metric);
}

void Stvm::load_state(torch::serialize::InputArchive& archive) {
  teacher_.load(archive, kTeacherKey, ctx_.device);
  torch::serialize::InputArchive metric;
  archive.read(kMetricKey, metric);
  metric_->load(metric);
}

}  // namespace segtransfer
