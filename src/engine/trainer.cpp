#include "engine/trainer.h"

#include <chrono>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/progress.h"
#include "core/error.h"
#include "data/class_mapping.h"
#include "data/dataset.h"
#include "engine/checkpoint.h"
#include "parallel/distributed.h"
#include "methods/common/optimization.h"
#include "engine/runtime.h"
#include "eval/evaluator.h"
#include "eval/metrics_log.h"
#include "eval/report.h"
#include "methods/method.h"
#include "models/batch_norm.h"
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

// The best val mIoU a resumed run has kept (best.json), if it was reached by `iteration`.
double best_miou_up_to(const fs::path& best_json, int64_t iteration) {
  if (!fs::exists(best_json)) return -1;
  try {
    const auto best = nlohmann::json::parse(read_text_file(best_json));
    return best.value("iter", int64_t{0}) <= iteration ? best.value("miou", -1.0) : -1.0;
  } catch (const nlohmann::json::exception&) {
    return -1;  // unreadable: the next evaluation writes a new one
  }
}

}  // namespace

std::string dry_run(const RunConfig& cfg) {
  std::string out = fmt::format("config OK: method {}, model {} ({} classes), {} iterations of batch {}\n", cfg.method,
                                cfg.model.name, cfg.model.num_classes, cfg.train.iterations, cfg.train.batch_size);
  const MethodEntry& method = method_entry(cfg.method);
  method.check_options(cfg);
  model_info(cfg.model.name);  // throws for an unknown model name
  for (auto [role, spec] :
       {std::pair{"source", &cfg.data.source}, {"target", &cfg.data.target}, {"val", &cfg.data.val}}) {
    if (spec->empty()) continue;
    auto ds = open_dataset(*spec);
    out += fmt::format("data.{}: {} ({} images, {})\n", role, ds->description(), ds->size(),
                       ds->has_labels() ? "labelled" : "unlabelled");
    if (std::string(role) == "val" && (ds->has_labels() || !cfg.eval.mapping.empty()))  // as `eval` will score
      eval_class_mapping(cfg.eval.mapping, cfg.model.num_classes, ds->label_space());
    else if (ds->label_space().num_classes() != cfg.model.num_classes && ds->has_labels())
      throw Error(fmt::format("data.{} has {} classes but model.num_classes is {}", role,
                              ds->label_space().num_classes(), cfg.model.num_classes));
  }
  // Files an earlier step of a pipeline writes (configs/README.md): named now, required when training starts.
  std::vector<std::pair<std::string, std::string>> inputs{{"model.init", cfg.model.init}};
  if (method.reads_prediction_store) inputs.emplace_back("store.path", cfg.store.path);
  for (const auto& key : method.input_keys) inputs.emplace_back(key, config_value<std::string>(cfg.tree, key));
  if (cfg.teacher.type == "torchscript" || cfg.teacher.type == "folder")
    inputs.emplace_back("teacher.path", cfg.teacher.path);
  for (const auto& [key, path] : inputs) {
    if (path.empty()) continue;
    out += fmt::format("{}: {} ({})\n", key, path,
                       fs::exists(path) ? "found" : "not there yet: an earlier step writes it");
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
  throw Error(
      fmt::format("out of {} memory at iteration {}{} with train.batch_size {} and data.augment.crop {}x{}: "
                  "reduce either; {}",
                  cpu ? "CPU" : "GPU", iteration, needed, cfg.train.batch_size, cfg.data.augment.crop[0],
                  cfg.data.augment.crop[1], kept_checkpoint(checkpointed)));
}

// One training run, phase by phase: set-up (output folder, device, model, method,
// resume), the loop (step, log window, checkpoint, periodic evaluation), and the
// finish (model.pt, final evaluation, report). The loop state lives here, not in
// lambdas capturing it.
class TrainingRun {
 public:
  TrainingRun(const RunConfig& cfg, const TrainOptions& options);
  TrainResult run();

 private:
  void prepare_output_folder();
  void set_up_device_and_group();
  void set_up_model_and_method();
  // train(), then BatchNorm back in eval mode with model.norm_eval.
  void set_training_mode();
  void start_or_resume();
  double clock_now() const;
  double spent() const { return spent_before_ + clock_now() - loop_start_s_ - eval_seconds_; }
  double progress_of(int64_t iteration) const;
  StepStats step(int64_t iteration, double progress);
  void log_window(int64_t iteration, double lr, double progress);
  void checkpoint(int64_t iteration);
  EvalResult evaluate_now(int64_t iteration);
  void keep_if_best(const EvalResult& result, int64_t iteration);
  void finish(TrainResult& result);

  const RunConfig& cfg_;
  const TrainOptions options_;
  const ProcessLayout layout_ = ProcessLayout::from_environment();
  const bool main_process_ = layout_.is_main();
  const fs::path out_dir_, checkpoint_path_, metrics_path_;
  fs::path resume_path_;  // the checkpoint a resumed run starts from (empty: a fresh run)
  int threads_ = 1;
  torch::Device device_ = torch::kCPU;
  std::unique_ptr<DataParallelGroup> group_;
  SegmentationModel model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<TrainingMethod> method_;
  std::vector<torch::Tensor> buffers_;
  // The tensors model.init filled (model.norm_eval keeps only their BatchNorm statistics);
  // unset without model.init: every layer keeps its statistics.
  std::optional<std::unordered_set<std::string>> initialised_;
  std::shared_ptr<SegDataset> val_;
  int64_t start_ = 0, total_ = 0, stop_ = 0, checkpointed_ = 0;
  double budget_s_ = 0, spent_before_ = 0, loop_start_s_ = 0, eval_seconds_ = 0;
  double best_miou_ = -1;  // of the periodic evaluations: best_model.pt holds that model
  // The current log window.
  Clock::time_point window_start_;
  double window_wait_ = 0;
  int64_t window_iters_ = 0;
  std::map<std::string, double> window_sums_;
};

TrainingRun::TrainingRun(const RunConfig& cfg, const TrainOptions& options)
    : cfg_(cfg),
      options_(options),
      out_dir_(cfg.output),
      checkpoint_path_(out_dir_ / "checkpoint.pt"),
      metrics_path_(out_dir_ / "metrics.jsonl") {
  // The other processes of a data-parallel run log warnings and errors only.
  if (!main_process_) spdlog::set_level(spdlog::level::warn);
  if (!options.resume_from.empty()) {
    if (!fs::exists(options.resume_from)) throw Error("--resume-from " + options.resume_from + ": no such checkpoint");
    resume_path_ = options.resume_from;
  } else if (options.resume && fs::exists(checkpoint_path_)) {
    resume_path_ = checkpoint_path_;
  } else if (fs::exists(checkpoint_path_)) {
    throw Error("output folder " + out_dir_.string() +
                " already holds a checkpoint: pass --resume to continue it, or choose another output");
  }
  prepare_output_folder();
  set_up_device_and_group();
  set_up_model_and_method();
  start_or_resume();
}

void TrainingRun::prepare_output_folder() {
  if (!main_process_) return;
  std::error_code ec;
  fs::create_directories(out_dir_, ec);
  if (ec) throw Error("cannot create output folder " + out_dir_.string() + ": " + ec.message());
  write_text_atomically(out_dir_ / "config.yaml", dump_config(cfg_));
  // A checkpoint write killed mid-way left its temporary (never read): clear it away.
  if (const int n = remove_stale_temporaries(out_dir_))
    spdlog::info("removed {} temporary file(s) left by a killed process in {}", n, out_dir_.string());
}

void TrainingRun::set_up_device_and_group() {
  // Processes sharing a machine share its cores unless train.threads says otherwise.
  threads_ = configure_threads(
      cfg_.train.threads > 0 || layout_.local_world_size == 1
          ? cfg_.train.threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / layout_.local_world_size));
  device_ = resolve_device(cfg_.device);
  if (device_.is_cuda() && layout_.distributed()) device_ = torch::Device(torch::kCUDA, layout_.local_rank);
  torch::manual_seed(cfg_.train.seed);
  if (!layout_.distributed()) return;
  group_ = std::make_unique<DataParallelGroup>(layout_, DistributedOptions::from_config(cfg_), device_);
  spdlog::info("data-parallel: {} processes ({} on this machine), batch {} each ({} in all), {}", layout_.world_size,
               layout_.local_world_size, cfg_.train.batch_size, cfg_.train.batch_size * layout_.world_size,
               group_->options().sync_batch_norm ? "synchronised BatchNorm" : "BatchNorm per process");
}

void TrainingRun::set_training_mode() {
  model_->train();
  if (!cfg_.model.norm_eval) return;
  // After a model.init only the layers the file filled keep their statistics.
  if (initialised_)
    keep_batch_norm_statistics(*model_, *initialised_);
  else
    keep_batch_norm_statistics(*model_);
}

void TrainingRun::set_up_model_and_method() {
  model_ = make_model(cfg_.model.name, cfg_.model.num_classes);
  if (!cfg_.model.init.empty()) {
    auto report = import_state_dict(*model_, cfg_.model.init);
    spdlog::info("model.init {}: {}", cfg_.model.init, report.summary());
    initialised_.emplace(report.loaded.begin(), report.loaded.end());
  }
  model_->to(device_);
  if (cfg_.train.channels_last) use_channels_last(*model_);
  set_training_mode();
  if (group_) group_->synchronise_batch_norm(*model_);
  optimizer_ = make_optimizer(cfg_.optim, *model_);

  // The method opens its loaders at the start iteration, so the checkpoint's
  // iteration is read first with a throw-away peek.
  if (!resume_path_.empty()) {
    torch::serialize::InputArchive peek;
    try {
      peek.load_from(resume_path_.string());
      torch::Tensor it;
      peek.read("iteration", it);
      start_ = it.item<int64_t>();
    } catch (const c10::Error&) {
      throw Error("cannot read checkpoint " + resume_path_.string() + ": corrupt or not a segtransfer checkpoint");
    }
  }
  MethodContext ctx{&cfg_, model_, device_, start_, group_.get()};
  method_ = method_entry(cfg_.method).make(ctx);
  add_head_group(*optimizer_, method_->trainable_parameters());
  buffers_ = model_->buffers();
}

void TrainingRun::start_or_resume() {
  if (!resume_path_.empty()) {
    spent_before_ = load_checkpoint(resume_path_.string(), cfg_.model.name, *model_, *optimizer_, *method_).elapsed_s;
    if (main_process_) truncate_metrics_log(metrics_path_, start_);
    best_miou_ = best_miou_up_to(out_dir_ / "best.json", start_);
    spdlog::info("resumed from {} at iteration {}", resume_path_.string(), start_);
  } else if (main_process_) {
    std::ofstream(metrics_path_, std::ios::trunc);
  }
  if (group_) {  // every process starts from rank 0's weights (DDP's initial broadcast)
    auto tensors = model_->parameters();
    for (auto& p : method_->trainable_parameters()) tensors.push_back(p);
    for (auto& b : buffers_) tensors.push_back(b);
    group_->broadcast_from_main(tensors, "initial weights");
  }
  if (!cfg_.data.val.empty()) val_ = open_dataset(cfg_.data.val);
  total_ = cfg_.train.iterations;
  stop_ = options_.stop_at >= 0 ? std::min(options_.stop_at, total_) : total_;
  budget_s_ = cfg_.train.time_budget_min * 60;
  checkpointed_ = start_;
}

// What a time budget counts: wall seconds, or the process's CPU seconds per intra-op
// thread (train.time_budget_clock: cpu), which other work on the machine does not eat into.
double TrainingRun::clock_now() const {
  return cfg_.train.time_budget_clock == "cpu" ? process_cpu_seconds() / threads_
                                               : std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

double TrainingRun::progress_of(int64_t iteration) const {
  double progress = budget_s_ > 0 ? spent() / budget_s_ : static_cast<double>(iteration) / std::max<int64_t>(total_, 1);
  // Under a time budget the processes' clocks differ: rank 0's decides for all.
  if (group_ && budget_s_ > 0)
    progress = group_->all_reduce_sum(torch::tensor({main_process_ ? progress : 0.0}, torch::kFloat64)).item<double>();
  return progress;
}

StepStats TrainingRun::step(int64_t iteration, double progress) {
  // Without synchronised BatchNorm each process keeps its own statistics; like
  // PyTorch DDP's broadcast_buffers, every step starts from rank 0's.
  if (group_ && !group_->options().sync_batch_norm) group_->broadcast_from_main(buffers_, "BatchNorm statistics");
  StepStats stats;
  try {
    stats = method_->train_step(TrainStep{iteration, progress}, *optimizer_);
  } catch (const c10::Error& e) {
    throw_if_out_of_memory(e, cfg_, iteration, checkpointed_);
    throw;
  }
  window_wait_ += method_->take_data_wait_seconds();
  for (const auto& [k, v] : stats) window_sums_[k] += v;
  ++window_iters_;
  return stats;
}

void TrainingRun::log_window(int64_t iteration, double lr, double progress) {
  const double window = std::chrono::duration<double>(Clock::now() - window_start_).count();
  const double its = window_iters_ / std::max(window, 1e-9);
  nlohmann::json line{{"iter", iteration},
                      {"lr", lr},
                      {"it_per_s", its},
                      {"progress", progress},
                      {"data_wait_share", window_wait_ / std::max(window, 1e-9)},
                      {"elapsed_s", spent()},
                      {"peak_rss_mib", peak_resident_mib()}};
  std::string scalars;
  for (const auto& [k, v] : window_sums_) {
    line[k] = v / window_iters_;
    scalars += fmt::format("{} {:.4f}  ", k, v / window_iters_);
  }
  if (main_process_) append_line(metrics_path_, line.dump());
  double eta = (stop_ - iteration) / std::max(its, 1e-9);
  if (budget_s_ > 0) eta = std::min(eta, std::max(0.0, budget_s_ - spent()));
  spdlog::info("[it {}/{}] {}lr {:.2e} | {:.2f} it/s {:.1f} img/s | data wait {:.1f}% | ETA {}", iteration, total_,
               scalars, lr, its, its * cfg_.train.batch_size, 100 * window_wait_ / std::max(window, 1e-9),
               format_duration(eta));
  window_start_ = Clock::now();
  window_wait_ = 0;
  window_iters_ = 0;
  window_sums_.clear();
}

void TrainingRun::checkpoint(int64_t iteration) {
  if (main_process_) {
    // A finite loss can still leave overflowed weights after the step: never write them.
    for (const auto& p : model_->parameters())
      if (!torch::isfinite(p).all().item<bool>())
        throw Error(fmt::format("non-finite weights after iteration {} (optim.lr {:g} too high?): not written; {}",
                                iteration, cfg_.optim.lr, kept_checkpoint(checkpointed_)));
    save_checkpoint(checkpoint_path_.string(), CheckpointInfo{iteration, spent(), cfg_.model.name}, *model_,
                    *optimizer_, *method_);
  }
  checkpointed_ = iteration;
}

EvalResult TrainingRun::evaluate_now(int64_t iteration) {
  const double eval_start = clock_now();
  auto r = evaluate(method_->model_to_evaluate(), *val_, cfg_.eval, cfg_.data, device_);
  set_training_mode();
  nlohmann::json line{{"iter", iteration}, {"eval", nlohmann::json::parse(to_json(r))}};
  append_line(metrics_path_, line.dump());
  spdlog::info("[it {}/{}] val mIoU{} {:.2f}  pixel acc {:.2f}  ({} images, {:.1f}s)", iteration, total_,
               r.protocol == "all" ? "" : r.protocol, 100 * r.miou, 100 * r.pixel_accuracy, r.images, r.seconds);
  keep_if_best(r, iteration);
  eval_seconds_ += clock_now() - eval_start;
  return r;
}

// best_model.pt: the evaluated model at its best val mIoU so far (mmsegmentation's
// save_best), and best.json: its iteration and mIoU. Both written atomically.
void TrainingRun::keep_if_best(const EvalResult& result, int64_t iteration) {
  if (result.miou <= best_miou_) return;
  best_miou_ = result.miou;
  auto& evaluated = method_->model_to_evaluate();
  evaluated.to(torch::kCPU);
  save_state_dict(evaluated, (out_dir_ / "best_model.pt").string());
  evaluated.to(device_);
  write_text_atomically(out_dir_ / "best.json",
                        nlohmann::json{{"iter", iteration}, {"miou", result.miou}}.dump() + "\n");
}

TrainResult TrainingRun::run() {
  spdlog::info("training {} ({}, {:.2f} M parameters) with {} on {}, {} threads: iterations {}..{} of {}{}",
               cfg_.model.name, model_->architecture(), count_parameters(*model_) / 1e6, cfg_.method, device_.str(),
               threads_, start_, stop_, total_,
               budget_s_ > 0 ? fmt::format(", or until {} of training time ({} clock) are spent",
                                           format_duration(budget_s_), cfg_.train.time_budget_clock)
                             : "");
  loop_start_s_ = clock_now();
  window_start_ = Clock::now();
  bool budget_spent = false;
  int64_t done = start_;
  while (done < stop_) {
    const double progress = progress_of(done);
    if (budget_s_ > 0 && progress >= 1) {
      budget_spent = true;
      break;
    }
    const double lr = scheduled_lr(cfg_.optim, done, progress);
    set_learning_rate(*optimizer_, cfg_.optim, lr);
    step(done, progress);
    ++done;
    if (done % cfg_.train.log_every == 0 || done == stop_) log_window(done, lr, progress);
    if (done % cfg_.train.checkpoint_every == 0 || done == stop_) checkpoint(done);
    if (val_ && main_process_ && done % cfg_.train.eval_every == 0 && done != total_) evaluate_now(done);
  }
  if (checkpointed_ != done) checkpoint(done);
  if (budget_spent) spdlog::info("time budget of {} spent after {} iterations", format_duration(budget_s_), done);
  TrainResult result;
  result.iterations = done;
  result.seconds = spent();
  if (main_process_ && (done == total_ || budget_spent)) finish(result);
  return result;
}

void TrainingRun::finish(TrainResult& result) {
  result.weights = (out_dir_ / "model.pt").string();
  auto& final_model = method_->model_to_evaluate();
  final_model.to(torch::kCPU);
  save_state_dict(final_model, result.weights);
  final_model.to(device_);
  if (val_) {
    result.eval = evaluate_now(result.iterations);
    write_text_atomically(out_dir_ / "metrics.json", to_json(*result.eval));
    write_png_atomically((out_dir_ / "qualitative.png").string(),
                         qualitative_grid(final_model, *val_, cfg_.eval, cfg_.data, device_));
  }
  write_metrics_csv(metrics_path_, out_dir_ / "metrics.csv");
  // The report only reads the files above: failing to draw it must not fail a finished run.
  try {
    spdlog::info("report: {}", write_run_report(out_dir_.string()));
  } catch (const Error& e) {
    spdlog::warn("no report written: {}", e.what());
  }
}

}  // namespace

TrainResult train(const RunConfig& cfg, const TrainOptions& options) { return TrainingRun(cfg, options).run(); }

}  // namespace segtransfer
