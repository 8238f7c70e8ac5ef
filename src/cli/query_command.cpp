#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "parallel/distributed.h"
#include "engine/runtime.h"
#include "teachers/query.h"

namespace segtransfer::cli {

void add_query_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string store;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "query", "ask the source model (black box) once per target image and keep its answers in a prediction store");
  args->config.add_to(*cmd, /*allow_run_dir=*/false);
  cmd->add_option("--store", args->store, "prediction store folder (default: the config's store.path)");
  cmd->footer(
      "The images are data.target; the source model is the config's teacher section:\n"
      "  teacher.type=folder       teacher.path=DIR    (<stem>.npy probabilities/logits or <stem>.png labels)\n"
      "  teacher.type=torchscript  teacher.path=model.pt\n"
      "  teacher.type=http         teacher.url=http://host:port/predict\n"
      "Resumable: run it again after an interruption and only the missing images are asked.\n"
      "Data-parallel: started with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set (torchrun, Slurm), each\n"
      "process asks for its share of the images into the same store folder (a shared file system).\n"
      "Example:\n"
      "  segtransfer query -c configs/synth_query.yaml --set teacher.path=runs/demo/black_box.pt \\\n"
      "      --set store.path=runs/demo_store");
  cmd->callback([args] {
    RunConfig cfg = args->config.load();
    if (!args->store.empty()) cfg.store.path = args->store;
    if (cfg.store.path.empty()) throw Error("where to keep the answers? set store.path or pass --store DIR");
    if (cfg.data.target.empty()) throw Error("no images to ask about: set data.target (type and root)");
    if (cfg.teacher.type.empty())
      throw Error("no source model: set teacher.type (folder | torchscript | http) and its path or url");
    const ProcessLayout layout = ProcessLayout::from_environment();
    if (!layout.is_main()) spdlog::set_level(spdlog::level::warn);
    configure_threads(cfg.train.threads);
    torch::Device device = resolve_device(cfg.device);
    if (device.is_cuda() && layout.distributed()) device = torch::Device(torch::kCUDA, layout.local_rank);
    std::unique_ptr<DataParallelGroup> group;
    if (layout.distributed())
      group =
          std::make_unique<DataParallelGroup>(layout, DistributedOptions::from_config(cfg), torch::Device(torch::kCPU));
    DatasetSpec images_spec = cfg.data.target;
    images_spec.labels = false;  // the images only
    auto images = open_dataset(images_spec);
    auto teacher = make_teacher(cfg.teacher, images->label_space(), cfg.data, device);
    StoreInfo info{cfg.store.top_k, images->label_space().num_classes(), teacher->describe()};
    // Rank 0 prepares the store (manifest, a killed run's temporary files) before
    // the others write into it.
    std::optional<PredictionStore> opened;
    if (layout.is_main()) opened = PredictionStore::open_for_writing(cfg.store.path, info);
    if (group) group->barrier("waiting for rank 0 to open the prediction store");
    if (!opened) opened = PredictionStore::open(cfg.store.path);
    const PredictionStore& store = *opened;
    spdlog::info("query: {} images of {} → {} (top-{} of {} classes) from {}", images->size(), images->description(),
                 cfg.store.path, info.top_k, info.num_classes, teacher->describe());
    const int64_t share =
        (static_cast<int64_t>(images->size()) + layout.world_size - 1 - layout.rank) / layout.world_size;
    ProgressLine progress("query", "img", share);
    QueryReport r = run_query(
        *teacher, *images, store, [&](int64_t done, int64_t) { progress.update(done); }, layout.rank,
        layout.world_size);
    if (group) {  // the whole query's figures, on rank 0
      const auto t = group->all_reduce_sum(torch::tensor(
          {double(r.images), double(r.skipped), double(r.stored), double(r.requests), double(r.stored_bytes)},
          torch::kFloat64));
      const auto failed = group->all_reduce_sum(torch::tensor({double(r.failures.size())}, torch::kFloat64));
      if (!layout.is_main()) {
        for (const auto& f : r.failures) std::cerr << "rejected (rank " << layout.rank << "): " << f << "\n";
        if (!r.failures.empty()) throw Error(fmt::format("{} answers were rejected (listed above)", r.failures.size()));
        return;
      }
      r.images = t[0].item<int64_t>();
      r.skipped = t[1].item<int64_t>();
      r.stored = t[2].item<int64_t>();
      r.requests = t[3].item<int64_t>();
      r.stored_bytes = t[4].item<int64_t>();
      r.failures.resize(static_cast<size_t>(failed.item<int64_t>()), "(rejected by another rank; see its output)");
    }
    const int64_t entries = r.images - static_cast<int64_t>(r.failures.size());
    std::cout << fmt::format(
        "query: {} images: {} already stored, {} asked and stored, {} rejected; {} requests in {:.1f}s; "
        "store {:.1f} MB ({:.1f} KB per image)\n",
        r.images, r.skipped, r.stored, r.failures.size(), r.requests, r.seconds, r.stored_bytes / 1e6,
        entries > 0 ? r.stored_bytes / 1e3 / entries : 0.0);
    if (!r.failures.empty()) {
      for (const auto& f : r.failures) std::cerr << "rejected: " << f << "\n";
      throw Error(
          fmt::format("{} of {} answers were rejected (listed above); fix the source and run query again "
                      "(only those images will be asked)",
                      r.failures.size(), r.images));
    }
  });
}

}  // namespace segtransfer::cli
