// A training method owns the whole training step (like DAFormer's UDA classes):
// it draws its batches, computes its losses, backpropagates and steps the
// optimiser. The trainer owns the loop, the schedule, checkpoints and evaluation.
#pragma once
#include <torch/torch.h>

#include <map>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/loader.h"
#include "parallel/distributed.h"
#include "models/model.h"

namespace segtransfer {

struct MethodContext {
  const RunConfig* config = nullptr;
  SegmentationModel student;
  torch::Device device{torch::kCPU};
  int64_t start_iteration = 0;         // batches already consumed (non-zero on resume)
  DataParallelGroup* group = nullptr;  // the data-parallel processes; null in a single-process run
};

using StepStats = std::map<std::string, double>;

// Where a step stands in its run. A method's phases (CoRTe's warm-up before
// refinement, its soft-to-filtered switch) are shares of the run, so that they
// mean the same under a fixed iteration count and under a wall-clock budget.
struct TrainStep {
  int64_t iteration = 0;  // 0-based
  double progress = 0;    // share of the run done before this step: iteration / iterations, or
                          // elapsed / train.time_budget_min
};

class TrainingMethod {
 public:
  // Checks data.rare_class_sampling.target against the method (target_rare_class_sampling).
  explicit TrainingMethod(MethodContext context);
  virtual ~TrainingMethod() = default;

  // One iteration; returns scalars to log (at least "loss").
  virtual StepStats train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) = 0;
  // Extra state a checkpoint must hold for an exact resume (EMA weights, ...).
  virtual void save_state(torch::serialize::OutputArchive& archive) const {}
  virtual void load_state(torch::serialize::InputArchive& archive) {}

  // Parameters the method trains besides the student's (adapters, metric heads):
  // the trainer's optimiser steps them as one more group at the head's learning
  // rate, and checkpoints their optimiser state; the method saves their values.
  virtual std::vector<torch::Tensor> trainable_parameters() { return {}; }

  // The network the trainer evaluates and exports (the student unless overridden).
  virtual SegmentationModelImpl& model_to_evaluate() { return *ctx_.student; }

  // Seconds the step spent waiting for data since the last call.
  double take_data_wait_seconds();

 protected:
  // A loader over `spec` whose batch stream is independent of the other loaders'
  // (`stream` salts the seed) and resumes at the context's start iteration. The
  // "source" role draws by rare-class sampling when data.rare_class_sampling is on.
  DataLoader& open_loader(const DatasetSpec& spec, const std::string& role, uint64_t stream);
  DataLoader& open_loader(std::shared_ptr<const SegDataset> dataset, uint64_t stream);
  // A loader over `dataset` drawing every sample by rare-class sampling from `stats`
  // (data.rare_class_sampling's temperature and min_pixels); logs the class shares
  // drawn, naming the images `what` (data.source, the target from its stored answers).
  DataLoader& open_rare_class_loader(std::shared_ptr<const SegDataset> dataset, const ClassStatistics& stats,
                                     const std::string& what, uint64_t stream);
  // The folder for caches (class statistics): `configured`, else the user's cache folder.
  static std::string cache_dir(const std::string& configured);
  // The loader options of this run (batch, workers, augmentation, seed salted by `stream`).
  LoaderOptions loader_options(uint64_t stream) const;
  const RunConfig& config() const { return *ctx_.config; }
  SegmentationModelImpl& student() { return *ctx_.student; }

  // loss.backward() into the student's (and trainable_parameters()') gradients.
  // In a data-parallel run the step's last pass (`last`) averages the gradients
  // accumulated over its passes across the processes; methods call this, never
  // loss.backward() on the student, so that every method runs data-parallel.
  void backward(const torch::Tensor& loss, bool last = true);
  // For a second network a method trains with its own optimiser (CLDA's
  // teacher): its gradient averaging, null in a single-process run, for
  // backward(loss, sync, last).
  std::unique_ptr<GradientSync> gradient_sync_for(torch::nn::Module& network);
  static void backward(const torch::Tensor& loss, GradientSync* sync, bool last);
  // False on the other processes of a data-parallel run: only rank 0 writes files.
  bool writes_outputs() const { return !ctx_.group || ctx_.group->layout().is_main(); }

  MethodContext ctx_;

 private:
  std::vector<std::unique_ptr<DataLoader>> loaders_;
  std::unique_ptr<GradientSync> student_sync_;  // made at the first backward, over student + method parameters
};

// One entry per training method: adding a method is one entry in method_table()
// (src/methods/method_table.cpp) plus its own file.
struct MethodEntry {
  std::string name;
  std::function<std::unique_ptr<TrainingMethod>(MethodContext)> make;
  // Trains from a black box's stored answers (store.path), not from labelled source data.
  bool reads_prediction_store = false;
  // Config keys naming files an earlier step of a pipeline writes: the dry run lists them.
  std::vector<std::string> input_keys;
  // Parses the method's own config sections exactly as its constructor will (throws
  // Error naming a bad key), so `train --dry-run` and `config` reject a bad value.
  std::function<void(const RunConfig&)> check_options;
};
const std::vector<MethodEntry>& method_table();
// data.rare_class_sampling.target: whether the target images are drawn by rare-class
// sampling from the stored answers. Error naming the key when it is on for a method
// that reads no prediction store (method_table() checks it with each method's options).
bool target_rare_class_sampling(const RunConfig& config);
// Throws Error listing the known methods when `name` is not one.
const MethodEntry& method_entry(const std::string& name);
std::vector<std::string> known_methods();

// The random stream of one step (mixing masks, strong view), seeded by the run's
// seed and the iteration so that a resumed run draws exactly as an uninterrupted
// one; `salt` separates the streams of several networks in one step.
std::mt19937_64 step_rng(const RunConfig& config, int64_t iteration, uint64_t salt = 0);

// Returns `loss`, or throws Error naming the iteration and the loss when it is not finite.
torch::Tensor checked_loss(const torch::Tensor& loss, int64_t iteration, const std::string& what);

}  // namespace segtransfer
