#include "methods/dacs.h"

#include "data/label_space.h"
#include "methods/common/losses.h"

namespace segtransfer {

namespace {
torch::Tensor source_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex));
}
}  // namespace

UdaStep::UdaStep(const RunConfig& config, SegmentationModelImpl& network, const std::string& model_name,
                 torch::Device device)
    : config_(config),
      network_(network),
      device_(device),
      options_(SelfTrainingOptions::from_config(config)),
      ema_(model_name, network, device) {}

UdaStep::SourcePass UdaStep::source(const Batch& batch, int64_t iteration, StepStats& stats,
                                    const std::string& prefix) {
  SourcePass p;
  p.images = batch.image.to(device_, /*non_blocking=*/true);
  p.labels = batch.label.to(device_, /*non_blocking=*/true);
  p.out = network_.forward_upsampled(p.images);
  p.loss = checked_loss(source_cross_entropy(p.out.logits, p.labels), iteration, prefix + "source CE");
  stats[prefix + "source_loss"] = p.loss.item<double>();
  return p;
}

UdaStep::TargetPass UdaStep::target(const SourcePass& source, const torch::Tensor& target_images,
                                    const torch::Tensor& truth, int64_t iteration, StepStats& stats,
                                    const std::string& prefix) {
  TargetPass p;
  {
    torch::NoGradGuard no_grad;
    p.pseudo = confident_pseudo_labels(ema_.model().forward(target_images), options_);
  }
  std::mt19937_64 rng = step_rng(config_, iteration, std::hash<std::string>{}(prefix));
  p.mixed = class_mix_source_onto_target(source.images, source.labels, target_images, p.pseudo, options_, rng);
  p.out = network_.forward_upsampled(p.mixed.images);
  p.loss = checked_loss(weighted_cross_entropy(p.out.logits, p.mixed.labels, p.mixed.weight), iteration,
                        prefix + "mixed target CE");
  stats[prefix + "mixed_loss"] = p.loss.item<double>();
  log_pseudo_labels(p.pseudo, truth, prefix, stats);
  return p;
}

void UdaStep::update_teacher(int64_t iteration) { ema_.update(network_, iteration, options_.ema_momentum); }

Dacs::Dacs(MethodContext context)
    : TrainingMethod(std::move(context)),
      source_(open_loader(config().data.source, "source", 0)),
      target_(open_loader(config().data.target, "target", 1)),
      uda_(config(), student(), config().model.name, ctx_.device) {}

Dacs::UdaBatch Dacs::next_batches() {
  const Batch source = source_.next(), target = target_.next();
  return {source, target.image.to(ctx_.device, /*non_blocking=*/true),
          target.label.defined() ? target.label.to(ctx_.device) : torch::Tensor()};
}

StepStats Dacs::train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) {
  StepStats stats;
  const auto [source, target_images, truth] = next_batches();
  optimizer.zero_grad();
  const UdaStep::SourcePass src = uda_.source(source, step.iteration, stats);
  backward(src.loss, /*last=*/false);
  const UdaStep::TargetPass tgt = uda_.target(src, target_images, truth, step.iteration, stats);
  backward(tgt.loss);
  optimizer.step();
  uda_.update_teacher(step.iteration);
  stats["loss"] = stats["source_loss"] + stats["mixed_loss"];
  return stats;
}

void Dacs::save_state(torch::serialize::OutputArchive& archive) const { uda_.save(archive, "dacs_ema"); }
void Dacs::load_state(torch::serialize::InputArchive& archive) { uda_.load(archive, "dacs_ema"); }

}  // namespace segtransfer
