// DACS-style mean-teacher UDA (Tranheden et al. 2021, with DAFormer's recipe):
// supervised cross-entropy on the labelled source, plus cross-entropy on target
// images with source classes ClassMixed onto them, against an EMA teacher's
// pseudo-labels weighted by their confident share. The UDA baseline every
// table shows; dual_teacher and clda build on its step (UdaStep).
#pragma once
#include <memory>
#include <random>

#include "methods/common/ema.h"
#include "methods/common/self_training.h"
#include "methods/method.h"

namespace segtransfer {

// One network trained by DACS: its own EMA teacher, the source CE and the mixed
// target CE. The two passes are separate so that a method can backpropagate the
// first (and free its graph, as DAFormer does) before running the second, and add
// its own terms on the same forward passes.
class UdaStep {
 public:
  UdaStep(const RunConfig& config, SegmentationModelImpl& network, const std::string& model_name, torch::Device device);

  struct SourcePass {
    torch::Tensor images, labels;  // on the device
    SegOutput out;                 // the network's logits (input size) and features
    torch::Tensor loss;            // cross-entropy
  };
  SourcePass source(const Batch& batch, int64_t iteration, StepStats& stats, const std::string& prefix = "");

  struct TargetPass {
    PseudoLabels pseudo;  // the EMA teacher's, on the unmixed target images
    MixedBatch mixed;
    SegOutput out;       // the network on the mixed images
    torch::Tensor loss;  // pseudo-label-weighted cross-entropy
  };
  // `truth` (may be undefined): the target's ground truth, for the logged
  // pseudo-label accuracy only.
  TargetPass target(const SourcePass& source, const torch::Tensor& target_images, const torch::Tensor& truth,
                    int64_t iteration, StepStats& stats, const std::string& prefix = "");
  void update_teacher(int64_t iteration);

  EmaModel& teacher() { return ema_; }
  const SelfTrainingOptions& options() const { return options_; }
  void save(torch::serialize::OutputArchive& archive, const std::string& key) const { ema_.save(archive, key); }
  void load(torch::serialize::InputArchive& archive, const std::string& key) { ema_.load(archive, key, device_); }

 private:
  const RunConfig& config_;
  SegmentationModelImpl& network_;
  torch::Device device_;
  SelfTrainingOptions options_;
  EmaModel ema_;
};

class Dacs : public TrainingMethod {
 public:
  explicit Dacs(MethodContext context);
  StepStats train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) override;
  void save_state(torch::serialize::OutputArchive& archive) const override;
  void load_state(torch::serialize::InputArchive& archive) override;

 protected:
  // The next source batch, and the next target batch's images and ground truth
  // (undefined when the target is unlabelled; diagnostics only) on the device.
  struct UdaBatch {
    Batch source;
    torch::Tensor target_images, target_truth;
  };
  UdaBatch next_batches();

  DataLoader& source_;
  DataLoader& target_;
  UdaStep uda_;
};

}  // namespace segtransfer
