#include "methods/method.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "data/rare_class_sampling.h"
#include "methods/corte.h"
#include "methods/clda.h"
#include "methods/dacs.h"
#include "methods/dual_teacher.h"
#include "methods/source_only.h"
#include "methods/stvm.h"

namespace segtransfer {

double TrainingMethod::take_data_wait_seconds() {
  double s = 0;
  for (auto& l : loaders_) s += l->take_wait_seconds();
  return s;
}

DataLoader& TrainingMethod::open_loader(const DatasetSpec& spec, const std::string& role, uint64_t stream) {
  if (spec.empty()) throw Error("method '" + config().method + "' needs data." + role + " (set data." + role + ".type and .root)");
  auto dataset = open_dataset(spec);
  const auto& rcs = config().data.rare_class_sampling;
  if (role != "source" || !rcs.enabled) return open_loader(std::move(dataset), stream);
  const auto stats = class_statistics(*dataset, class_statistics_cache_path(*dataset, cache_dir(rcs.cache_dir)));
  auto sampler = std::make_shared<RareClassSampler>(stats, rcs.temperature, rcs.min_pixels);
  LoaderOptions options = loader_options(stream);
  options.sampler = sampler;
  std::string shares;
  for (int c = 0; c < dataset->label_space().num_classes(); ++c)
    if (sampler->class_probabilities()[c] >= 0.005)
      shares += fmt::format(" {} {:.0f}%", dataset->label_space().classes[c], 100 * sampler->class_probabilities()[c]);
  spdlog::info("rare-class sampling of data.source (T {}): classes drawn{}", rcs.temperature, shares);
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

std::vector<std::string> known_methods() {
  return {"source_only", "corte", "plain_distill", "soft_distill", "threshold_distill", "dacs",
          "dual_teacher", "stvm", "clda"};
}

void require_known_method(const std::string& name) {
  const auto known = known_methods();
  if (std::find(known.begin(), known.end(), name) != known.end()) return;
  std::string list;
  for (const auto& m : known) list += (list.empty() ? "" : ", ") + m;
  throw Error("unknown method '" + name + "' (config key 'method'; known: " + list + ")");
}

std::unique_ptr<TrainingMethod> make_method(const std::string& name, MethodContext context) {
  require_known_method(name);
  if (name == "source_only") return std::make_unique<SourceOnly>(std::move(context));
  if (name == "dacs") return std::make_unique<Dacs>(std::move(context));
  if (name == "dual_teacher") return std::make_unique<DualTeacher>(std::move(context));
  if (name == "stvm") return std::make_unique<Stvm>(std::move(context));
  if (name == "clda") return std::make_unique<Clda>(std::move(context));
  if (reads_prediction_store(name)) return std::make_unique<Corte>(std::move(context));
  throw Error("internal: method '" + name + "' is listed in known_methods() but has no constructor");
}

bool reads_prediction_store(const std::string& method) {
  return method == "corte" || method == "plain_distill" || method == "soft_distill" || method == "threshold_distill";
}

torch::Tensor checked_loss(const torch::Tensor& loss, int64_t iteration, const std::string& what) {
  if (!torch::isfinite(loss).all().item<bool>())
    throw Error(fmt::format("non-finite {} loss at iteration {}: training stopped before any weight was changed",
                            what, iteration));
  return loss;
}

}  // namespace segtransfer
