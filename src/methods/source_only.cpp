#include "methods/source_only.h"

namespace segtransfer {

SourceOnly::SourceOnly(MethodContext context)
    : TrainingMethod(std::move(context)), source_(open_loader(config().data.source, "source", 0)) {}

StepStats SourceOnly::train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) {
  Batch batch = source_.next();
  auto image = batch.image.to(ctx_.device, /*non_blocking=*/true);
  auto label = batch.label.to(ctx_.device, /*non_blocking=*/true);
  auto logits = student().forward(image);
  auto loss = torch::nn::functional::cross_entropy(
      logits, label, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex));
  checked_loss(loss, step.iteration, "source cross-entropy");
  optimizer.zero_grad();
  backward(loss);
  optimizer.step();
  return {{"loss", loss.item<double>()}};
}

}  // namespace segtransfer
