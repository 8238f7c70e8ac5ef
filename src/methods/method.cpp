#include "methods/method.h"

#include <algorithm>

#include "core/error.h"
#include "methods/corte.h"
#include "methods/source_only.h"

namespace segtransfer {

double TrainingMethod::take_data_wait_seconds() {
  double s = 0;
  for (auto& l : loaders_) s += l->take_wait_seconds();
  return s;
}

DataLoader& TrainingMethod::open_loader(const DatasetSpec& spec, const std::string& role, uint64_t stream) {
  if (spec.empty()) throw Error("method '" + config().method + "' needs data." + role + " (set data." + role + ".type and .root)");
  return open_loader(open_dataset(spec), stream);
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
  return o;
}

std::vector<std::string> known_methods() {
  return {"source_only", "corte", "plain_distill", "soft_distill", "threshold_distill"};
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
  if (name == "corte" || name == "plain_distill" || name == "soft_distill" || name == "threshold_distill")
    return std::make_unique<Corte>(std::move(context));
  throw Error("internal: method '" + name + "' is listed in known_methods() but has no constructor");
}

torch::Tensor checked_loss(const torch::Tensor& loss, int64_t iteration, const std::string& what) {
  if (!torch::isfinite(loss).all().item<bool>())
    throw Error(fmt::format("non-finite {} loss at iteration {}: training stopped before any weight was changed",
                            what, iteration));
  return loss;
}

}  // namespace segtransfer
