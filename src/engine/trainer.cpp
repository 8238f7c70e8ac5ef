#include "engine/trainer.h"

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include "core/atomic_file.h"
#include "core/progress.h"
#include "core/error.h"
#include "data/dataset.h"
#include "engine/checkpoint.h"
#include "parallel/distributed.h"
#include "methods/common/optimization.h"
#include "engine/runtime.h"
#include "eval/evaluator.h"
#include "eval/report.h"
#include "methods/method.h"
#include "models/weight_import.h"

namespace segtransfer {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// On resume, drop log lines past the checkpoint so the log reads as one run.
void truncate_metrics_log(const fs::path& path, int64_t last_iteration) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("iter", int64_t{0}) <= last_iteration) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      // A line cut short by a kill: dropped.
    }
  }
  write_text_atomically(path, kept);
}

}  // namespace

std::string dry_run(const RunConfig& cfg) {
  std::string out = fmt::format("config OK: method {}, model {} ({} classes), {} iterations of batch {}\n",
                                cfg.method, cfg.model.name, cfg.model.num_classes, cfg.train.iterations,
                                cfg.train.batch_size);
  const MethodEntry& method = method_entry(cfg.method);
  make_model(cfg.model.name, cfg.model.num_classes);  // throws for an unknown model name
  for (auto [role, spec] : {std::pair{"source", &cfg.data.source}, {"target", &cfg.data.target}, {"val", &cfg.data.val}}) {
    if (spec->empty()) continue;
    auto ds = open_dataset(*spec);
    out += fmt::format("data.{}: {} ({} images, {})\n", role, ds->description(), ds->size(),
                       ds->has_labels() ? "labelled" : "unlabelled");
    if (ds->label_space().num_classes() != cfg.model.num_classes && ds->has_labels())
      throw Error(fmt::format("data.{} has {} classes but model.num_classes is {}", role,
                              ds->label_space().num_classes(), cfg.model.num_classes));
  }
  // Files an earlier step of a pipeline writes (configs/README.md): named now, required when training starts.
  std::vector<std::pair<std::string, std::string>> inputs{{"model.init", cfg.model.init}};
  if (method.reads_prediction_store) inputs.emplace_back("store.path", cfg.store.path);
  for (const auto& key : method.input_keys) inputs.emplace_back(key, config_value<std::string>(cfg.tree, key));
  if (cfg.teacher.type == "torchscript" || cfg.teacher.type == "folder") inputs.emplace_back("teacher.path", cfg.teacher.path);
  for (const auto& [key, path] : inputs) {
    if (path.empty()) continue;
    out += fmt::format("{}: {} ({})\n", key, path, fs::exists(path) ? "found" : "not there yet: an earlier step writes it");
  }
  return out;
}

namespace {

// What a run that stops now keeps, for its error message.
std::string kept_checkpoint(int64_t checkpointed) {
  return checkpointed > 0
             ? fmt::format("the checkpoint of iteration {} is intact (--resume continues from it)", checkpointed)
             : std::string("no checkpoint was written yet");
}

// LibTorch's allocation failure ("DefaultCPUAllocator: can't allocate memory: you
// tried to allocate N bytes", or CUDA's "out of memory"), said in the run's terms.
void throw_if_out_of_memory(const c10::Error& e, const RunConfig& cfg, int64_t iteration, int64_t checkpointed) {
  const std::string message = e.what();
  const bool cpu = message.find("can't allocate memory") != std::string::npos;
  if (!cpu && message.find("out of memory") == std::string::npos) return;
  std::string needed;
  std::smatch m;
  if (std::regex_search(message, m, std::regex(R"(allocate (\d+) bytes)")))
    needed = fmt::format(" (one allocation of {:.0f} MiB failed)", std::stod(m[1]) / (1024.0 * 1024.0));
  throw Error(fmt::format("out of {} memory at iteration {}{} with train.batch_size {} and data.augment.crop {}x{}: "
                          "reduce either; {}",
                          cpu ? "CPU" : "GPU", iteration, needed, cfg.train.batch_size, cfg.data.augment.crop[0],
                          cfg.data.augment.crop[1], kept_checkpoint(checkpointed)));
}

}  // namespace

TrainResult train(const RunConfig& cfg, const TrainOptions& options) {
  const ProcessLayout layout = ProcessLayout::from_environment();
  const bool main_process = layout.is_main();
  // The other processes of a data-parallel run log warnings and errors only.
  if (!main_process) spdlog::set_level(spdlog::level::warn);
  const fs::path out_dir = cfg.output;
  const fs::path checkpoint_path = out_dir / "checkpoint.pt";
  const fs::path metrics_path = out_dir / "metrics.jsonl";
  if (!options.resume && fs::exists(checkpoint_path))
    throw Error("output folder " + out_dir.string() +
                " already holds a checkpoint: pass --resume to continue it, or choose another output");
  if (main_process) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) throw Error("cannot create output folder " + out_dir.string() + ": " + ec.message());
    write_text_atomically(out_dir / "config.yaml", dump_config(cfg));
    // A checkpoint write killed mid-way left its temporary (never read): clear it away.
    if (const int n = remove_stale_temporaries(out_dir))
      spdlog::info("removed {} temporary file(s) left by a killed process in {}", n, out_dir.string());
  }

  // Processes sharing a machine share its cores unless train.threads says otherwise.
  const int threads = configure_threads(
      cfg.train.threads > 0 || layout.local_world_size == 1
          ? cfg.train.threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / layout.local_world_size));
  torch::Device device = resolve_device(cfg.device);
  if (device.is_cuda() && layout.distributed()) device = torch::Device(torch::kCUDA, layout.local_rank);
  torch::manual_seed(cfg.train.seed);
  std::unique_ptr<DataParallelGroup> group;
  if (layout.distributed()) {
    group = std::make_unique<DataParallelGroup>(layout, DistributedOptions::from_config(cfg), device);
    spdlog::info("data-parallel: {} processes ({} on this machine), batch {} each ({} in all), {}", layout.world_size,
                 layout.local_world_size, cfg.train.batch_size, cfg.train.batch_size * layout.world_size,
                 group->options().sync_batch_norm ? "synchronised BatchNorm" : "BatchNorm per process");
  }

  SegmentationModel model = make_model(cfg.model.name, cfg.model.num_classes);
  if (!cfg.model.init.empty()) {
    auto report = import_state_dict(*model, cfg.model.init);
    spdlog::info("model.init {}: {}", cfg.model.init, report.summary());
  }
  model->to(device);
  if (cfg.train.channels_last) use_channels_last(*model);
  model->train();
  if (group) group->synchronise_batch_norm(*model);
  auto optimizer = make_optimizer(cfg.optim, *model);

  int64_t start = 0;
  bool resuming = options.resume && fs::exists(checkpoint_path);
  // The method opens its loaders at the start iteration, so the checkpoint's
  // iteration is read first with a throw-away peek.
  if (resuming) {
    torch::serialize::InputArchive peek;
    try {
      peek.load_from(checkpoint_path.string());
      torch::Tensor it;
      peek.read("iteration", it);
      start = it.item<int64_t>();
    } catch (const c10::Error&) {
      throw Error("cannot read checkpoint " + checkpoint_path.string() + ": corrupt or not a segtransfer checkpoint");
    }
  }
  MethodContext ctx{&cfg, model, device, start, group.get()};
  auto method = method_entry(cfg.method).make(ctx);
  add_head_group(*optimizer, method->trainable_parameters());
  // Without synchronised BatchNorm each process keeps its own statistics; like
  // PyTorch DDP's broadcast_buffers, every step starts from rank 0's.
  std::vector<torch::Tensor> buffers = model->buffers();
  auto broadcast_buffers = [&] {
    if (group && !group->options().sync_batch_norm) group->broadcast_from_main(buffers, "BatchNorm statistics");
  };
  double spent_before = 0;  // loop seconds of earlier processes of this run
  if (resuming) {
    spent_before = load_checkpoint(checkpoint_path.string(), cfg.model.name, *model, *optimizer, *method).elapsed_s;
    if (main_process) truncate_metrics_log(metrics_path, start);
    spdlog::info("resumed from {} at iteration {}", checkpoint_path.string(), start);
  } else if (main_process) {
    std::ofstream(metrics_path, std::ios::trunc);
  }
  if (group) {  // every process starts from rank 0's weights (DDP's initial broadcast)
    auto tensors = model->parameters();
    for (auto& p : method->trainable_parameters()) tensors.push_back(p);
    for (auto& b : buffers) tensors.push_back(b);
    group->broadcast_from_main(tensors, "initial weights");
  }

  std::shared_ptr<SegDataset> val;
  if (!cfg.data.val.empty()) val = open_dataset(cfg.data.val);

  const int64_t total = cfg.train.iterations;
  const int64_t stop = options.stop_at >= 0 ? std::min(options.stop_at, total) : total;
  const double budget_s = cfg.train.time_budget_min * 60;
  spdlog::info("training {} ({}, {:.2f} M parameters) with {} on {}, {} threads: iterations {}..{} of {}{}",
               cfg.model.name, model->architecture(), count_parameters(*model) / 1e6, cfg.method, device.str(),
               threads, start, stop, total,
               budget_s > 0 ? fmt::format(", or until {} of training time ({} clock) are spent", format_duration(budget_s),
                                           cfg.train.time_budget_clock)
                            : "");

  const auto loop_start = Clock::now();
  // What a time budget counts: wall seconds, or the process's CPU seconds per intra-op
  // thread (train.time_budget_clock: cpu), which other work on the machine does not eat into.
  const bool cpu_clock = cfg.train.time_budget_clock == "cpu";
  auto clock_now = [&] {
    return cpu_clock ? process_cpu_seconds() / threads
                     : std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  };
  const double loop_start_s = clock_now();
  double eval_seconds = 0;  // evaluation does not count against a time budget
  auto spent = [&] { return spent_before + clock_now() - loop_start_s - eval_seconds; };
  auto progress_of = [&](int64_t iteration) {
    return budget_s > 0 ? spent() / budget_s : static_cast<double>(iteration) / std::max<int64_t>(total, 1);
  };
  int64_t checkpointed = start;  // the iteration of the checkpoint on disk
  auto checkpoint = [&](int64_t iteration) {
    if (!main_process) return;
    // A finite loss can still leave overflowed weights after the step: never write them.
    for (const auto& p : model->parameters())
      if (!torch::isfinite(p).all().item<bool>())
        throw Error(fmt::format("non-finite weights after iteration {} (optim.lr {:g} too high?): not written; {}",
                                iteration, cfg.optim.lr, kept_checkpoint(checkpointed)));
    save_checkpoint(checkpoint_path.string(), CheckpointInfo{iteration, spent(), cfg.model.name}, *model, *optimizer,
                    *method);
  };
  auto evaluate_now = [&](int64_t iteration) -> EvalResult {
    const double eval_start = clock_now();
    auto r = evaluate(method->model_to_evaluate(), *val, cfg.eval, cfg.data, device);
    model->train();
    nlohmann::json line{{"iter", iteration}, {"eval", nlohmann::json::parse(to_json(r))}};
    append_line(metrics_path, line.dump());
    spdlog::info("[it {}/{}] val mIoU{} {:.2f}  pixel acc {:.2f}  ({} images, {:.1f}s)", iteration, total,
                 r.protocol == "all" ? "" : r.protocol, 100 * r.miou, 100 * r.pixel_accuracy, r.images, r.seconds);
    eval_seconds += clock_now() - eval_start;
    return r;
  };

  TrainResult result;
  auto window_start = loop_start;
  double window_wait = 0;
  int64_t window_iters = 0;
  std::map<std::string, double> window_sums;
  bool budget_spent = false;
  int64_t done = start;
  while (done < stop) {
    double progress = progress_of(done);
    // Under a time budget the processes' clocks differ: rank 0's decides for all.
    if (group && budget_s > 0) progress = group->all_reduce_sum(torch::tensor({main_process ? progress : 0.0},
                                                                            torch::kFloat64)).item<double>();
    if (budget_s > 0 && progress >= 1) {
      budget_spent = true;
      break;
    }
    const double lr = scheduled_lr(cfg.optim, done, progress);
    set_learning_rate(*optimizer, cfg.optim, lr);
    broadcast_buffers();
    StepStats stats;
    try {
      stats = method->train_step(TrainStep{done, progress}, *optimizer);
    } catch (const c10::Error& e) {
      throw_if_out_of_memory(e, cfg, done, checkpointed);
      throw;
    }
    window_wait += method->take_data_wait_seconds();
    for (const auto& [k, v] : stats) window_sums[k] += v;
    ++window_iters;
    ++done;

    if (done % cfg.train.log_every == 0 || done == stop) {
      const double window = std::chrono::duration<double>(Clock::now() - window_start).count();
      const double its = window_iters / std::max(window, 1e-9);
      nlohmann::json line{{"iter", done}, {"lr", lr}, {"it_per_s", its}, {"progress", progress},
                          {"data_wait_share", window_wait / std::max(window, 1e-9)}, {"elapsed_s", spent()},
                          {"peak_rss_mib", peak_resident_mib()}};
      std::string scalars;
      for (const auto& [k, v] : window_sums) {
        line[k] = v / window_iters;
        scalars += fmt::format("{} {:.4f}  ", k, v / window_iters);
      }
      if (main_process) append_line(metrics_path, line.dump());
      double eta = (stop - done) / std::max(its, 1e-9);
      if (budget_s > 0) eta = std::min(eta, std::max(0.0, budget_s - spent()));
      spdlog::info("[it {}/{}] {}lr {:.2e} | {:.2f} it/s {:.1f} img/s | data wait {:.1f}% | ETA {}", done, total,
                   scalars, lr, its, its * cfg.train.batch_size, 100 * window_wait / std::max(window, 1e-9),
                   format_duration(eta));
      window_start = Clock::now();
      window_wait = 0;
      window_iters = 0;
      window_sums.clear();
    }
    if (done % cfg.train.checkpoint_every == 0 || done == stop) {
      checkpoint(done);
      checkpointed = done;
    }
    if (val && main_process && done % cfg.train.eval_every == 0 && done != total) evaluate_now(done);
  }
  if (checkpointed != done) checkpoint(done);
  if (budget_spent)
    spdlog::info("time budget of {} spent after {} iterations", format_duration(budget_s), done);
  result.iterations = done;
  result.seconds = spent();

  if (!main_process) return result;
  if (done == total || budget_spent) {
    result.weights = (out_dir / "model.pt").string();
    auto& final_model = method->model_to_evaluate();
    final_model.to(torch::kCPU);
    save_state_dict(final_model, result.weights);
    final_model.to(device);
    if (val) {
      result.eval = evaluate_now(done);
      write_text_atomically(out_dir / "metrics.json", to_json(*result.eval));
      write_png_atomically((out_dir / "qualitative.png").string(),
                           qualitative_grid(final_model, *val, cfg.eval, cfg.data, device));
    }
    // The report only reads the files above: failing to draw it must not fail a finished run.
    try {
      spdlog::info("report: {}", write_run_report(out_dir.string()));
    } catch (const Error& e) {
      spdlog::warn("no report written: {}", e.what());
    }
  }
  return result;
}

}  // namespace segtransfer
