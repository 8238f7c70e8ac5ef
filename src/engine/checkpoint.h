// Training checkpoints: model, optimiser, method state, iteration and RNG state in
// one LibTorch archive, written atomically (a killed run never leaves a partial
// checkpoint under the real name).
#pragma once
#include <torch/torch.h>

#include <string>

#include "methods/method.h"
#include "models/model.h"
#include "models/weight_import.h"  // load_model_weights, for the callers that restore a run

namespace segtransfer {

struct CheckpointInfo {
  int64_t iteration = 0;  // iterations completed
  double elapsed_s = 0;   // training-loop seconds spent so far (what train.time_budget_min counts)
  std::string model_name;
};

void save_checkpoint(const std::string& path, const CheckpointInfo& info, SegmentationModelImpl& model,
                     const torch::optim::Optimizer& optimizer, const TrainingMethod& method);

// Restores everything saved above. Throws Error naming the file when it is not a
// readable checkpoint or was written for another model.
CheckpointInfo load_checkpoint(const std::string& path, const std::string& model_name, SegmentationModelImpl& model,
                               torch::optim::Optimizer& optimizer, TrainingMethod& method);

// A checkpoint's method state (what TrainingMethod::save_state wrote), read without
// resuming the run, for diagnostics of a finished or running run. Throws Error naming
// the file when it is absent, not a checkpoint, or written for another model.
struct SavedMethodState {
  CheckpointInfo info;                        // iteration and model_name; elapsed_s is not read
  torch::serialize::InputArchive checkpoint;  // the whole archive (keeps `state`'s storage)
  torch::serialize::InputArchive state;       // its "method" part
};
SavedMethodState read_method_state(const std::string& path, const std::string& model_name);

}  // namespace segtransfer
