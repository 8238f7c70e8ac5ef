#include <iostream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "engine/runtime.h"
#include "eval/evaluator.h"
#include "eval/teacher_evaluation.h"
#include "models/inference_fusion.h"

namespace segtransfer::cli {

namespace {

// --teacher --store DIR: the answers a query already stored, scored without a request.
void evaluate_store_command(const RunConfig& cfg, const std::string& store_dir, const std::string& json) {
  auto dataset = open_dataset(cfg.data.val);
  if (!dataset->has_labels()) throw Error("data.val (" + cfg.data.val.root + ") has no labels to evaluate against");
  const PredictionStore store = PredictionStore::open(store_dir);
  EvalResult r = evaluate_store(store, *dataset, cfg.eval);
  std::cout << format_table(
      r, "the stored answers in " + store_dir + " (" + store.info().teacher + ") on " + dataset->description());
  if (!json.empty()) write_text_atomically(json, to_json(r));
}

void evaluate_teacher_command(const RunConfig& cfg, torch::Device device, const std::string& json) {
  if (cfg.teacher.type.empty())
    throw Error("--teacher: no source model to score: set teacher.type (folder | torchscript | http)");
  auto dataset = open_dataset(cfg.data.val);
  if (!dataset->has_labels()) throw Error("data.val (" + cfg.data.val.root + ") has no labels to evaluate against");
  auto teacher = make_teacher(cfg.teacher, dataset->label_space(), cfg.data, device);
  const auto images = static_cast<int64_t>(dataset->size());
  ProgressLine progress("eval", "img",
                        cfg.eval.max_images > 0 ? std::min<int64_t>(images, cfg.eval.max_images) : images);
  EvalResult r = evaluate_teacher(*teacher, *dataset, cfg.eval,
                                  [&](size_t done, size_t) { progress.update(static_cast<int64_t>(done)); });
  std::cout << format_table(r, teacher->describe() + " on " + dataset->description());
  spdlog::info("{} requests to the teacher", teacher->requests());
  if (!json.empty()) write_text_atomically(json, to_json(r));
}

}  // namespace

void add_eval_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string weights, protocol, mode, json, store;
    bool teacher = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "per-class IoU, mIoU and pixel accuracy of a model on a labelled split");
  args->config.add_to(*cmd, /*allow_run_dir=*/true);
  cmd->add_option("-w,--weights", args->weights,
                  "model weights: checkpoint.pt, model.pt or a PyTorch state_dict (default: <run>/model.pt, else "
                  "model.init)");
  auto* p = cmd->add_option("--protocol", args->protocol, "classes scored: 19, 16, 13 (Cityscapes) or 'all'");
  cmd->add_option("--mode", args->mode, "whole | slide")->check(CLI::IsMember({"whole", "slide"}));
  cmd->add_option("--json", args->json, "also write the metrics to this JSON file");
  cmd->add_flag("--teacher", args->teacher,
                "score the config's teacher (the black box: TorchScript, HTTP or prediction folder, with "
                "teacher.mapping) instead of a trained model; every image is one request");
  cmd->add_option("--store", args->store,
                  "with --teacher: score the answers already in this prediction store (segtransfer query on the "
                  "same split) instead of asking again")
      ->check(CLI::ExistingDirectory);
  cmd->footer(
      "The split is the config's data.val; point it elsewhere with --set, e.g.\n"
      "  segtransfer eval --run runs/src --set data.val.root=data/synth/source --set data.val.type=gta5 --protocol 16\n"
      "How good is the black box itself (the row every table shows for it):\n"
      "  segtransfer eval -c configs/camvid/query_espnet.yaml --teacher");
  cmd->callback([args, p] {
    RunConfig cfg = args->config.load();
    if (p->count() > 0) cfg.eval.protocol = args->protocol == "all" ? "" : args->protocol;
    if (!args->mode.empty()) cfg.eval.mode = args->mode;
    if (cfg.data.val.empty())
      throw Error("nothing to evaluate on: set data.val (e.g. --set data.val.type=cityscapes --set data.val.root=DIR)");
    configure_threads(cfg.train.threads);
    torch::Device device = resolve_device(cfg.device);
    if (!args->store.empty() && !args->teacher)
      throw Error("--store scores a black box's stored answers: add --teacher");
    if (args->teacher && !args->store.empty()) return evaluate_store_command(cfg, args->store, args->json);
    if (args->teacher) return evaluate_teacher_command(cfg, device, args->json);
    auto model = load_trained_model(cfg, args->config.run_dir, args->weights, device);
    fold_batch_norm(*model);  // inference only from here: one pass fewer per BatchNorm
    auto dataset = open_dataset(cfg.data.val);
    if (!dataset->has_labels()) throw Error("data.val (" + cfg.data.val.root + ") has no labels to evaluate against");
    const auto images = static_cast<int64_t>(dataset->size());
    ProgressLine progress("eval", "img",
                          cfg.eval.max_images > 0 ? std::min<int64_t>(images, cfg.eval.max_images) : images);
    EvalResult r = evaluate(*model, *dataset, cfg.eval, cfg.data, device,
                            [&](size_t done, size_t) { progress.update(static_cast<int64_t>(done)); });
    std::cout << format_table(r, dataset->description());
    if (auto report = dataset->unknown_id_report(); !report.empty()) spdlog::warn("{}", report);
    if (!args->json.empty()) write_text_atomically(args->json, to_json(r));
  });
}

}  // namespace segtransfer::cli
