#include "methods/method.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "core/error.h"
#include "data/rare_class_sampling.h"

namespace segtransfer {

double TrainingMethod::take_data_wait_seconds() {
  double s = 0;
  for (auto& l : loaders_) s += l->take_wait_seconds();
  return s;
}

TrainingMethod::TrainingMethod(MethodContext context) : ctx_(std::move(context)) {
  target_rare_class_sampling(config());
}

bool target_rare_class_sampling(const RunConfig& config) {
  if (!config.data.rare_class_sampling.target) return false;
  if (!method_entry(config.method).reads_prediction_store)
    throw Error(
        "config key 'data.rare_class_sampling.target' draws target images by the black box's stored "
        "answers, but method '" +
        config.method + "' reads no prediction store: set it to false");
  return true;
}

DataLoader& TrainingMethod::open_loader(const DatasetSpec& spec, const std::string& role, uint64_t stream) {
  if (spec.empty())
    throw Error("method '" + config().method + "' needs data." + role + " (set data." + role + ".type and .root)");
  auto dataset = open_dataset(spec);
  const auto& rcs = config().data.rare_class_sampling;
  if (role != "source" || !rcs.enabled) return open_loader(std::move(dataset), stream);
  const auto stats = class_statistics(*dataset, class_statistics_cache_path(*dataset, cache_dir(rcs.cache_dir)));
  return open_rare_class_loader(std::move(dataset), stats, "data.source", stream);
}

DataLoader& TrainingMethod::open_rare_class_loader(std::shared_ptr<const SegDataset> dataset,
                                                   const ClassStatistics& stats, const std::string& what,
                                                   uint64_t stream) {
  const auto& rcs = config().data.rare_class_sampling;
  auto sampler = std::make_shared<RareClassSampler>(stats, rcs.temperature, rcs.min_pixels);
  LoaderOptions options = loader_options(stream);
  options.sampler = sampler;
  const auto& names = dataset->label_space().classes;
  std::string shares;
  for (int c = 0; c < stats.num_classes; ++c)
    if (sampler->class_probabilities()[c] >= 0.005)
      shares += fmt::format(" {} {:.0f}%", c < static_cast<int>(names.size()) ? names[c] : std::to_string(c),
                            100 * sampler->class_probabilities()[c]);
  spdlog::info("rare-class sampling of {} (T {}): classes drawn{}", what, rcs.temperature, shares);
  loaders_.push_back(std::make_unique<DataLoader>(std::move(dataset), options, ctx_.start_iteration));
  return *loaders_.back();
}

std::string TrainingMethod::cache_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/segtransfer";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/segtransfer";
  return ".segtransfer_cache";
}

DataLoader& TrainingMethod::open_loader(std::shared_ptr<const SegDataset> dataset, uint64_t stream) {
  loaders_.push_back(std::make_unique<DataLoader>(std::move(dataset), loader_options(stream), ctx_.start_iteration));
  return *loaders_.back();
}

LoaderOptions TrainingMethod::loader_options(uint64_t stream) const {
  const auto& c = config();
  LoaderOptions o;
  o.batch_size = c.train.batch_size;
  o.workers = c.train.workers;
  o.prefetch = c.train.prefetch;
  o.seed = c.train.seed * 1000003ULL + stream;
  o.augment = c.data.augment;
  o.mean = c.data.mean;
  o.std = c.data.std;
  if (ctx_.group) {
    o.shard = ctx_.group->layout().rank;
    o.shards = ctx_.group->layout().world_size;
  }
  return o;
}

void TrainingMethod::backward(const torch::Tensor& loss, bool last) {
  if (ctx_.group && !student_sync_) {
    auto parameters = ctx_.student->parameters();
    for (auto& p : trainable_parameters()) parameters.push_back(p);
    student_sync_ = ctx_.group->gradient_sync(parameters);
  }
  backward(loss, student_sync_.get(), last);
}

std::unique_ptr<GradientSync> TrainingMethod::gradient_sync_for(torch::nn::Module& network) {
  if (!ctx_.group) return nullptr;
  ctx_.group->synchronise_batch_norm(network);
  return ctx_.group->gradient_sync(network.parameters());
}

void TrainingMethod::backward(const torch::Tensor& loss, GradientSync* sync, bool last) {
  if (sync) {
    sync->backward(loss, last);
  } else {
    loss.backward();
  }
}

std::mt19937_64 step_rng(const RunConfig& config, int64_t iteration, uint64_t salt) {
  return std::mt19937_64(config.train.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(iteration) +
                         salt * 0xD1B54A32D192ED03ULL);
}

torch::Tensor checked_loss(const torch::Tensor& loss, int64_t iteration, const std::string& what) {
  if (!torch::isfinite(loss).all().item<bool>())
    throw Error(fmt::format("non-finite {} loss at iteration {}: training stopped before any weight was changed", what,
                            iteration));
  return loss;
}

}  // namespace segtransfer
