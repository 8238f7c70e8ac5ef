#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "data/synthetic.h"
#include "engine/runtime.h"
#include "engine/trainer.h"
#include "eval/evaluator.h"
#include "eval/report.h"
#include "cli/model_loading.h"
#include "models/torchscript_export.h"
#include "teachers/query.h"

namespace segtransfer::cli {

namespace {

// The demo's recipe, sized to finish within ten minutes on two cores: fewer
// iterations than the benchmark configs in configs/ (the output says so).
const char* kDemoConfig = R"YAML(
method: source_only
model: {name: lraspp_mobilenet_v3_small, num_classes: 19}
data:
  source: {type: gta5, root: DATA/source, split: train}
  target: {type: cityscapes, root: DATA/target, split: train, labels: true}
  val: {type: cityscapes, root: DATA/target, split: val}
  augment: {scale_range: [0.75, 1.5], crop: [192, 128], hflip: 0.5}
optim: {type: adamw, lr: 1.0e-3, head_lr_mult: 10.0, weight_decay: 0.01, warmup_iters: 100}
train: {iterations: SOURCE_ITERS, batch_size: 8, checkpoint_every: 500, eval_every: 100000, log_every: 100, workers: 1, prefetch: 4}
eval: {mode: whole}
teacher: {type: torchscript, path: OUT/black_box.pt, output: logits}
store: {path: OUT/store, top_k: 2}
corte: {diagnostics_every: 200}
)YAML";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// Trains `cfg` unless its run folder already holds a finished model.
void train_once(const RunConfig& cfg) {
  if (std::filesystem::exists(cfg.output + "/model.pt")) {
    spdlog::info("    {} already holds a finished run: reusing it", cfg.output);
    return;
  }
  train(cfg, TrainOptions{/*resume=*/true});
}

}  // namespace

void add_demo_command(CLI::App& app) {
  struct Args {
    std::string data = "data/synth", out = "runs/demo";
    std::vector<std::string> overrides;
    int source_iterations = 900, student_iterations = 450;
    bool print_config = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "demo",
      "the whole story on the synthetic benchmark: train a source model, use it as a black box, distil a student "
      "on the target domain with CoRTe, compare");
  cmd->add_option("--data", args->data, "where the synthetic domains are written (kept between runs)");
  cmd->add_option("-o,--out", args->out, "demo folder (finished steps found there are reused, not redone)");
  cmd->add_option("--source-iterations", args->source_iterations, "iterations of the source model (the black box)");
  cmd->add_option("--student-iterations", args->student_iterations, "iterations of each student");
  cmd->add_option("--set", args->overrides, "override a key of the demo config (see --print-config)");
  cmd->add_flag("--print-config", args->print_config, "print the demo's config and stop");
  cmd->footer(
      "Examples:\n"
      "  segtransfer demo                                    # ~9 min on 2 cores; finished steps are reused\n"
      "  segtransfer demo --student-iterations 2000 -o runs/demo_long\n"
      "  segtransfer demo --set model.name=espnet -o runs/demo_espnet");
  cmd->callback([args] {
    // Each step sets these itself: a --set of them would be overridden without a word.
    for (const auto& [key, instead] : {std::pair{"train.iterations", "--source-iterations / --student-iterations"},
                                       {"method", "none: the demo runs source_only, plain_distill and corte"},
                                       {"output", "-o"}})
      for (const auto& o : args->overrides)
        if (o.rfind(std::string(key) + "=", 0) == 0)
          throw Error(fmt::format("demo: --set {} is decided per step by the demo; use {}", key, instead));
    std::string config_text = replace_all(kDemoConfig, "DATA", args->data);
    config_text = replace_all(config_text, "OUT", args->out);
    config_text = replace_all(config_text, "SOURCE_ITERS", std::to_string(args->source_iterations));
    if (args->print_config) {
      std::cout << config_text;
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    SynthOptions synth;
    synth.out = args->data;
    synth.source_train = 600;
    synth.source_val = 100;
    synth.target_train = 600;
    synth.target_val = 100;
    synth.size = cv::Size(320, 160);
    synth.threads = 2;
    spdlog::info("1/5 generating the synthetic source (GTA5 layout) and target (Cityscapes layout) domains in {}",
                 args->data);
    write_synthetic_benchmark(synth);

    auto config_for = [&](const std::string& method, int iterations) {
      std::vector<std::string> overrides = args->overrides;
      overrides.push_back("method=" + method);
      overrides.push_back("output=" + args->out + "/" + method);
      overrides.push_back("train.iterations=" + std::to_string(iterations));
      return load_config_text(config_text, overrides, "<demo config>");
    };
    const RunConfig source = config_for("source_only", args->source_iterations);
    spdlog::info("2/5 training the source model {} on the labelled source domain ({} iterations)", source.model.name,
                 source.train.iterations);
    train_once(source);

    configure_threads(source.train.threads);
    torch::Device device = resolve_device(source.device);
    auto source_model = load_trained_model(source, source.output, "", device);
    spdlog::info("3/5 serving it as a black box (TorchScript, outputs only) and asking it about the {} target images",
                 synth.target_train);
    export_torchscript(*source_model, synth.size, source.teacher.path);
    {
      DatasetSpec images = source.data.target;
      images.labels = false;
      auto target_images = open_dataset(images);
      auto black_box = make_teacher(source.teacher, target_images->label_space(), source.data, device);
      const auto store = PredictionStore::open_for_writing(
          source.store.path, {source.store.top_k, target_images->label_space().num_classes(), black_box->describe()});
      QueryReport q = run_query(*black_box, *target_images, store);
      spdlog::info("    {} answers stored ({} already there), {:.1f} KB per image", q.stored, q.skipped,
                   q.stored_bytes / 1e3 / std::max<int64_t>(1, q.images));
    }

    const RunConfig plain = config_for("plain_distill", args->student_iterations);
    const RunConfig corte = config_for("corte", args->student_iterations);
    spdlog::info(
        "4/5 training two {} students on the black box's answers only ({} iterations each): plain "
        "distillation, then CoRTe",
        plain.model.name, args->student_iterations);
    train_once(plain);
    train_once(corte);

    spdlog::info("5/5 evaluating on target val");
    auto on_target = [&](const RunConfig& cfg) {
      auto model = load_trained_model(cfg, cfg.output, "", device);
      return evaluate(*model, *open_dataset(cfg.data.val), cfg.eval, cfg.data, device);
    };
    const EvalResult black_box =
        evaluate(*source_model, *open_dataset(source.data.val), source.eval, source.data, device);
    const EvalResult plain_result = on_target(plain), corte_result = on_target(corte);
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
    std::cout << "\nSynthetic benchmark, target val (IoU in %). Black box: " << source.model.name
              << " trained on the source domain (" << source.train.iterations
              << " iterations); students: " << plain.model.name << " from scratch on the black box's answers only ("
              << args->student_iterations << " iterations each, batch " << plain.train.batch_size << ", crop "
              << plain.data.augment.crop[0] << "x" << plain.data.augment.crop[1]
              << "). Demo-sized, about a fifth of the benchmark's iterations: docs/benchmarks.md has the full-length "
                 "runs (2500 iterations each, 3 seeds).\n"
              << format_comparison({{"black box", black_box}, {"plain distill", plain_result}, {"CoRTe", corte_result}})
              << fmt::format(
                     "CoRTe vs black box: {:+.1f} mIoU, vs plain distillation: {:+.1f}. Demo took {:.1f} min "
                     "in all. Runs, pseudo-label audit and diagnostics grids: {}\n",
                     100 * (corte_result.miou - black_box.miou), 100 * (corte_result.miou - plain_result.miou), minutes,
                     args->out);
    const std::string report = write_run_report(corte.output, {plain.output, "plain distillation"});
    std::cout << "CoRTe's report, per class against plain distillation: " << report << "\n"
              << "This synthetic black box (about 17 mIoU) cannot show what a method is worth. On real frames "
                 "(CamVid) with two real Cityscapes black boxes, bench/camvid.sh measures every method: "
                 "docs/benchmarks.md, \"Real data: CamVid\".\n"
              << "Deploy the student: segtransfer export --run " << corte.output << " -o student.onnx --size "
              << synth.size.width << "x" << synth.size.height << "\n";
  });
}

}  // namespace segtransfer::cli
