#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "engine/checkpoint.h"
#include "engine/runtime.h"
#include "methods/stvm_reliability.h"

namespace segtransfer::cli {

namespace {

struct ReliabilityArgs {
  std::string config_file, run_dir, out;
  std::vector<std::string> overrides;
};

void run_reliability(const ReliabilityArgs& args) {
  const std::string checkpoint = args.run_dir + "/checkpoint.pt";
  if (!std::filesystem::exists(checkpoint))
    throw Error("--run " + args.run_dir +
                ": no checkpoint.pt there (not a run folder, or the run has not reached its first checkpoint)");
  const std::string config_file = args.config_file.empty() ? args.run_dir + "/config.yaml" : args.config_file;
  RunConfig cfg = load_config(config_file, args.overrides);
  if (cfg.data.val.empty()) throw Error("no labelled images to judge the pseudo-labels with: set data.val");
  configure_threads(cfg.train.threads);
  const torch::Device device = resolve_device(cfg.device);
  auto val = open_dataset(cfg.data.val);
  if (!val->has_labels()) throw Error("data.val (" + cfg.data.val.root + ") has no labels to judge the pseudo-labels");
  SavedMethodState saved = read_method_state(checkpoint, cfg.model.name);
  StvmTeacher teacher;
  try {
    teacher = load_stvm_teacher(saved.state, cfg, device);
  } catch (const Error& e) {
    throw Error(checkpoint + ": " + e.what());
  }
  const auto images = static_cast<int64_t>(val->size());
  ProgressLine progress("reliability", "img",
                        cfg.eval.max_images > 0 ? std::min<int64_t>(images, cfg.eval.max_images) : images);
  const ReliabilityAudit audit = audit_stvm_reliability(
      teacher, *val, cfg, device, [&](size_t done, size_t) { progress.update(static_cast<int64_t>(done)); });
  const std::string report = fmt::format("STvM teacher of {} at iteration {} on {}:\n\n", args.run_dir,
                                         saved.info.iteration, val->description()) +
                             audit.markdown();
  std::cout << report;
  if (args.out.empty()) return;
  write_text_atomically(args.out, report);
  auto json = audit.json();
  json["run"] = args.run_dir;
  json["iteration"] = saved.info.iteration;
  json["val"] = val->description();
  write_text_atomically(args.out + ".json", json.dump(2) + "\n");
  spdlog::info("wrote {} and {}.json", args.out, args.out);
}

}  // namespace

void add_reliability_command(CLI::App& app) {
  auto args = std::make_shared<ReliabilityArgs>();
  auto* cmd = app.add_subcommand(
      "reliability",
      "STvM: does the reliability single out the right pseudo-labels? per class, against the teacher's confidence");
  cmd->add_option("--run", args->run_dir, "an STvM run folder (finished or running): reads its checkpoint.pt")
      ->required();
  cmd->add_option("-c,--config", args->config_file, "YAML config (default: the run's config.yaml)");
  cmd->add_option("--set", args->overrides, "override a config key, e.g. --set eval.max_images=20 (repeatable)");
  cmd->add_option("-o,--out", args->out, "also write the Markdown table here (and the JSON beside it, FILE.json)");
  cmd->footer(
      "The checkpoint's EMA teacher and metric head label every data.val image (eval.resize, data.mean/std,\n"
      "as `segtransfer eval`); each pixel's pseudo-label is judged against the label through eval.mapping\n"
      "(the labels serve this diagnostic only). Per pseudo-label class: share right, mean reliability of\n"
      "the right and the wrong ones, AUROC of reliability and of the teacher's confidence as predictors of\n"
      "right, what self_training.pseudo_threshold keeps, and the reliability-weighted accuracy.\n"
      "Example (CamVid, the Cityscapes ESPNet adapted by STvM):\n"
      "  segtransfer reliability -c configs/camvid/espnet_city.yaml --run runs/camvid/espnet_city_stvm \\\n"
      "      -o runs/camvid/espnet_city_stvm/reliability.md");
  cmd->callback([args] { run_reliability(*args); });
}

}  // namespace segtransfer::cli
