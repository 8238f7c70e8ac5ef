// BatchNorm2d whose training statistics can be taken over the batches of every
// data-parallel process (synchronised BatchNorm). Parameter and buffer names are
// torch.nn.BatchNorm2d's (weight, bias, running_mean, running_var,
// num_batches_tracked), so state_dicts load either way. Written as its own module
// rather than derived from torch::nn::BatchNorm2dImpl: Debian's LibTorch does not
// export the base template's virtual members that a derived class links against.
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace segtransfer {

// A differentiable sum of a tensor over every process of a run (engine/distributed.h
// makes one over c10d); its gradient is the same sum of the gradients.
using ReplicaSum = std::function<torch::Tensor(const torch::Tensor&)>;

class BatchNorm2dImpl : public torch::nn::Cloneable<BatchNorm2dImpl> {
 public:
  explicit BatchNorm2dImpl(const torch::nn::BatchNorm2dOptions& options);
  BatchNorm2dImpl(int64_t num_features) : BatchNorm2dImpl(torch::nn::BatchNorm2dOptions(num_features)) {}
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  // torch.nn.BatchNorm2d's forward, except in training with a replica sum set:
  // then mean and variance are those of the union of every process's batch.
  torch::Tensor forward(const torch::Tensor& input);
  // Empty: statistics of this process's batch only (the default).
  void synchronise_with(ReplicaSum sum) { replica_sum_ = std::move(sum); }
  // After models/inference_fusion.h has folded this layer into the convolution
  // before it, forward passes its input through (eval mode only).
  void mark_folded() { folded_ = true; }
  bool folded() const { return folded_; }

  torch::nn::BatchNorm2dOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  ReplicaSum replica_sum_;
  bool folded_ = false;
};
TORCH_MODULE(BatchNorm2d);

// Puts every BatchNorm2d of `module` in eval mode, the rest as it is: the layers
// normalise by, and keep, their running statistics while their scale and shift still
// train (model.norm_eval). Called after module.train().
void keep_batch_norm_statistics(torch::nn::Module& module);
// The same for the layers whose running statistics a checkpoint filled (`loaded`: the
// state_dict names it brought, e.g. from models/weight_import.h): a layer that started
// fresh (shaped by another class count, say) has none worth keeping and goes on
// estimating its own.
void keep_batch_norm_statistics(torch::nn::Module& module, const std::unordered_set<std::string>& loaded);

// `module` in eval mode for the scope's length, then every submodule back in the mode
// it had: with model.norm_eval BatchNorm stays in eval while the rest trains, which a
// plain train() afterwards would undo.
class EvalModeScope {
 public:
  explicit EvalModeScope(torch::nn::Module& module);
  ~EvalModeScope();
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> modes_;
};

// Sets (or, with an empty sum, clears) the replica sum of every BatchNorm2d in `module`.
void synchronise_batch_norm(torch::nn::Module& module, const ReplicaSum& sum);

}  // namespace segtransfer
