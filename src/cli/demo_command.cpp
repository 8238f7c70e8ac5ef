#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "data/synthetic.h"
#include "engine/runtime.h"
#include "engine/trainer.h"
#include "eval/evaluator.h"
#include "cli/model_loading.h"

namespace segtransfer::cli {

namespace {

// The demo's recipe, sized to finish in about ten minutes on two cores. The
// full-length benchmark configs live in configs/.
const char* kDemoConfig = R"YAML(
method: source_only
model: {name: lraspp_mobilenet_v3_small, num_classes: 19}
data:
  source: {type: gta5, root: DATA/source, split: train}
  val: {type: cityscapes, root: DATA/target, split: val}
  augment: {scale_range: [0.75, 1.5], crop: [192, 128], hflip: 0.5}
optim: {type: adamw, lr: 1.0e-3, head_lr_mult: 10.0, weight_decay: 0.01, warmup_iters: 100}
train: {iterations: 2500, batch_size: 8, checkpoint_every: 500, eval_every: 100000, log_every: 100, workers: 1, prefetch: 4}
eval: {mode: whole}
)YAML";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  struct Args {
    std::string data = "data/synth", out = "runs/demo";
    std::vector<std::string> overrides;
    bool print_config = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "demo", "synthetic benchmark end to end: generate both domains, train a source model, evaluate it on both");
  cmd->add_option("--data", args->data, "where the synthetic domains are written (kept between runs)");
  cmd->add_option("-o,--out", args->out, "run folder (a finished demo run there is re-evaluated, not retrained)");
  cmd->add_option("--set", args->overrides, "override a key of the demo config (see --print-config)");
  cmd->add_flag("--print-config", args->print_config, "print the demo's training config and stop");
  cmd->callback([args] {
    const std::string config_text = replace_all(kDemoConfig, "DATA", args->data);
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
    spdlog::info("1/3 generating the synthetic source (GTA5 layout) and target (Cityscapes layout) domains in {}",
                 args->data);
    write_synthetic_benchmark(synth);

    std::vector<std::string> overrides = args->overrides;
    overrides.push_back("output=" + args->out + "/source_only");
    RunConfig cfg = load_config_text(config_text, overrides, "<demo config>");
    spdlog::info("2/3 training {} on the source domain ({} iterations)", cfg.model.name, cfg.train.iterations);
    TrainResult trained;
    if (std::filesystem::exists(cfg.output + "/model.pt")) {
      spdlog::info("    {} already holds a finished run: evaluating it", cfg.output);
    } else {
      trained = train(cfg, TrainOptions{/*resume=*/true});
    }

    spdlog::info("3/3 evaluating the source model on source val and target val");
    configure_threads(cfg.train.threads);
    torch::Device device = resolve_device(cfg.device);
    auto model = load_trained_model(cfg, cfg.output, "", device);
    DatasetSpec source_val = cfg.data.source;
    source_val.split = "val";
    EvalResult on_source = evaluate(*model, *open_dataset(source_val), cfg.eval, cfg.data, device);
    EvalResult on_target = trained.eval ? *trained.eval : evaluate(*model, *open_dataset(cfg.data.val), cfg.eval, cfg.data, device);
    const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
    std::cout << "\nSynthetic benchmark, " << cfg.model.name << " trained on the source domain only ("
              << cfg.train.iterations << " iterations, batch " << cfg.train.batch_size << ", crop "
              << cfg.data.augment.crop[0] << "x" << cfg.data.augment.crop[1] << "); IoU in %:\n"
              << format_comparison({{"source val", on_source}, {"target val", on_target}})
              << fmt::format("Domain gap: {:.1f} mIoU points. Demo took {:.1f} min in all. Run folder: {}\n",
                             100 * (on_source.miou - on_target.miou), minutes, cfg.output);
  });
}

}  // namespace segtransfer::cli
