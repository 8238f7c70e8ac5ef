// Supervised training on the labelled source domain: the lower bound every table shows.
#pragma once
#include "methods/method.h"

namespace segtransfer {

class SourceOnly : public TrainingMethod {
 public:
  explicit SourceOnly(MethodContext context);
  StepStats train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) override;

 private:
  DataLoader& source_;
};

}  // namespace segtransfer
