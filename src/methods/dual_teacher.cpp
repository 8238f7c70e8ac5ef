#include "methods/dual_teacher.h"

#include "core/error.h"
#include "methods/common/losses.h"
#include "teachers/white_box.h"

namespace segtransfer {

DualTeacherOptions DualTeacherOptions::from_config(const RunConfig& config) {
  const YAML::Node& t = config.tree;
  DualTeacherOptions o;
  o.teacher_model = config_value<std::string>(t, "dual_teacher.teacher_model");
  o.teacher_weights = config_value<std::string>(t, "dual_teacher.teacher_weights");
  o.feature_weight = config_value<double>(t, "dual_teacher.feature_weight");
  o.kl_weight = config_value<double>(t, "dual_teacher.kl_weight");
  o.temperature = config_value<double>(t, "dual_teacher.temperature");
  o.on_source = config_value<bool>(t, "dual_teacher.on_source");
  o.on_target = config_value<bool>(t, "dual_teacher.on_target");
  if (o.feature_weight < 0 || o.kl_weight < 0)
    throw Error("config keys 'dual_teacher.feature_weight' and 'kl_weight' must be >= 0");
  if (o.temperature <= 0) throw Error("config key 'dual_teacher.temperature' must be > 0");
  return o;
}

DualTeacher::DualTeacher(MethodContext context)
    : Dacs(std::move(context)),
      options_(DualTeacherOptions::from_config(config())),
      frozen_(load_frozen_model(options_.teacher_model, config().model.num_classes, options_.teacher_weights,
                                ctx_.device, "dual_teacher.teacher_weights")),
      adapter_(FeatureAdapterOptions(student().feature_channels(), frozen_->feature_channels())) {
  adapter_->to(ctx_.device);
}

torch::Tensor DualTeacher::distillation(const torch::Tensor& images, const SegOutput& out, int64_t iteration,
                                        const std::string& domain, StepStats& stats) {
  SegOutput teacher;
  {
    torch::NoGradGuard no_grad;
    teacher = frozen_->forward_upsampled(images);
  }
  torch::Tensor loss = checked_loss(feature_distillation_loss(adapter_->forward(out.features), teacher.features),
                                    iteration, domain + " feature distillation");
  stats[domain + "_feature_loss"] = loss.item<double>();
  loss = options_.feature_weight * loss;
  if (options_.kl_weight > 0) {
    namespace F = torch::nn::functional;
    const auto target = F::softmax(teacher.logits / options_.temperature, F::SoftmaxFuncOptions(1));
    const auto all =
        torch::ones({images.size(0), images.size(2), images.size(3)}, images.options().dtype(torch::kBool));
    const auto kl = checked_loss(soft_distillation_loss(out.logits, target, all, options_.temperature), iteration,
                                 domain + " KL distillation");
    stats[domain + "_kl_loss"] = kl.item<double>();
    loss = loss + options_.kl_weight * kl;
  }
  return loss;
}

StepStats DualTeacher::train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) {
  StepStats stats;
  const auto [source, target_images, truth] = next_batches();
  optimizer.zero_grad();
  const UdaStep::SourcePass src = uda_.source(source, step.iteration, stats);
  torch::Tensor source_loss = src.loss;
  if (options_.on_source)
    source_loss = source_loss + distillation(src.images, src.out, step.iteration, "source", stats);
  backward(source_loss, /*last=*/false);
  const UdaStep::TargetPass tgt = uda_.target(src, target_images, truth, step.iteration, stats);
  torch::Tensor target_loss = tgt.loss;
  if (options_.on_target)
    target_loss = target_loss + distillation(tgt.mixed.images, tgt.out, step.iteration, "target", stats);
  backward(target_loss);
  optimizer.step();
  uda_.update_teacher(step.iteration);
  stats["loss"] = source_loss.item<double>() + target_loss.item<double>();
  return stats;
}

void DualTeacher::save_state(torch::serialize::OutputArchive& archive) const {
  Dacs::save_state(archive);
  torch::serialize::OutputArchive adapter;
  adapter_->save(adapter);
  archive.write("dual_teacher_adapter", adapter);
}

void DualTeacher::load_state(torch::serialize::InputArchive& archive) {
  Dacs::load_state(archive);
  torch::serialize::InputArchive adapter;
  archive.read("dual_teacher_adapter", adapter);
  adapter_->load(adapter);
}

}  // namespace segtransfer
