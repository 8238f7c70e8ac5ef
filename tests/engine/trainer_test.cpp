#include "engine/trainer.h"

#include <gtest/gtest.h>

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "engine/checkpoint.h"
#include "methods/common/optimization.h"
#include "engine/runtime.h"
#include "models/weight_import.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// A tiny GTA5-layout tree: images/ and labels/ (Cityscapes labelIds), 6 images.
void write_tiny_gta(const fs::path& root) {
  fs::create_directories(root / "images");
  fs::create_directories(root / "labels");
  cv::RNG rng(7);
  for (int i = 0; i < 6; ++i) {
    cv::Mat label(32, 48, CV_8UC1, cv::Scalar(7));  // road
    label(cv::Rect(0, 0, 48, 12)).setTo(23);        // sky
    label(cv::Rect(10 + i, 12, 12, 10)).setTo(26);  // car
    cv::Mat image(32, 48, CV_8UC3);
    rng.fill(image, cv::RNG::UNIFORM, 0, 60);
    image.setTo(cv::Scalar(200, 120, 60), label == 23);
    image.setTo(cv::Scalar(30, 30, 200), label == 26);
    char name[16];
    std::snprintf(name, sizeof name, "%05d.png", i + 1);
    cv::imwrite((root / "images" / name).string(), image);
    cv::imwrite((root / "labels" / name).string(), label);
  }
}

RunConfig tiny_config(const fs::path& data, const fs::path& out, int iterations) {
  return load_config_text(fmt::format(R"(
method: source_only
output: {}
model: {{name: lraspp_mobilenet_v3_small, num_classes: 19}}
data:
  source: {{type: gta5, root: {}}}
  augment: {{crop: [32, 32], scale_range: [0.8, 1.2], hflip: 0.5}}
optim: {{lr: 1.0e-3, warmup_iters: 2}}
train: {{iterations: {}, batch_size: 2, checkpoint_every: 3, log_every: 1, workers: 1, threads: 1, seed: 3}}
)",
                                      out.string(), data.string(), iterations));
}

std::vector<std::pair<std::string, torch::Tensor>> weights_of(const fs::path& run) {
  return read_state_dict((run / "model.pt").string());
}

}  // namespace

TEST(Schedule, WarmupThenPolynomialDecay) {
  OptimSpec s;
  s.lr = 1.0;
  s.warmup_iters = 10;
  s.warmup_ratio = 0.0;
  s.poly_power = 1.0;
  EXPECT_NEAR(scheduled_lr(s, 0, 0.0), 0.0, 1e-12);
  EXPECT_NEAR(scheduled_lr(s, 5, 0.05), 0.5 * 0.95, 1e-12);  // half-way warm-up of the decayed lr
  EXPECT_NEAR(scheduled_lr(s, 50, 0.5), 0.5, 1e-12);
  EXPECT_NEAR(scheduled_lr(s, 100, 1.0), 0.0, 1e-12);
  // Under a time budget the decay follows the spent share of the budget, not the iteration.
  EXPECT_NEAR(scheduled_lr(s, 50, 0.75), 0.25, 1e-12);
  EXPECT_NEAR(scheduled_lr(s, 50, 1.5), 0.0, 1e-12);
}

TEST(Trainer, ResumeIsExact) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto full = tiny_config(dir / "gta", dir / "full", 6);
  TrainResult a = train(full);
  EXPECT_EQ(a.iterations, 6);

  auto split = tiny_config(dir / "gta", dir / "split", 6);
  TrainResult first = train(split, TrainOptions{false, 3});
  EXPECT_EQ(first.iterations, 3);
  EXPECT_TRUE(fs::exists(dir / "split" / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(dir / "split" / "model.pt"));
  TrainResult rest = train(split, TrainOptions{true});
  EXPECT_EQ(rest.iterations, 6);

  auto wa = weights_of(dir / "full"), wb = weights_of(dir / "split");
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) {
    ASSERT_EQ(wa[i].first, wb[i].first);
    EXPECT_TRUE(torch::equal(wa[i].second, wb[i].second)) << wa[i].first;
  }
  // The metrics log reads as one run: one line per iteration, no duplicates.
  std::ifstream log(dir / "split" / "metrics.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, 6);
}

// model.norm_eval: the BatchNorm layers keep the running statistics they started with
// (here a fresh model's 0 and 1) while their scale and shift train; without it the
// training batches move the statistics.
TEST(Trainer, NormEvalKeepsTheBatchNormStatistics) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto kept = tiny_config(dir / "gta", dir / "kept", 3);
  kept.model.norm_eval = true;
  train(kept);
  train(tiny_config(dir / "gta", dir / "moved", 3));
  // (how far the BatchNorm statistics moved from 0 and 1, how far their scales moved from 1)
  auto summarise = [](const fs::path& run) {
    const auto weights = weights_of(run);
    std::map<std::string, torch::Tensor> by_name(weights.begin(), weights.end());
    double statistics_moved = 0, scale_moved = 0;
    for (const auto& [name, value] : weights) {
      const auto dot = name.rfind('.');
      if (name.substr(dot + 1) != "running_mean") continue;
      const std::string layer = name.substr(0, dot);
      statistics_moved += value.abs().sum().item<double>() +
                          (by_name.at(layer + ".running_var") - 1).abs().sum().item<double>() +
                          by_name.at(layer + ".num_batches_tracked").sum().item<double>();
      scale_moved += (by_name.at(layer + ".weight") - 1).abs().sum().item<double>();
    }
    return std::make_pair(statistics_moved, scale_moved);
  };
  const auto [kept_statistics, kept_scales] = summarise(dir / "kept");
  EXPECT_EQ(kept_statistics, 0.0);
  EXPECT_GT(kept_scales, 0.0);
  EXPECT_GT(summarise(dir / "moved").first, 0.0);
}

// model.norm_eval with a model.init that filled the backbone only: the backbone's BatchNorm
// layers keep the statistics the file brought; the head's, which started fresh, follow
// the training batches.
TEST(Trainer, NormEvalKeepsOnlyTheStatisticsTheInitFileBrought) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto pretrained = make_model("lraspp_mobilenet_v3_small", 19);
  auto backbone_only = std::make_shared<torch::nn::Module>();
  backbone_only->register_module("backbone", pretrained->named_children()["backbone"]);
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : backbone_only->named_buffers())
      if (item.key().find("running_mean") != std::string::npos) item.value().fill_(0.25);
  }
  save_state_dict(*backbone_only, (dir / "backbone.pt").string());
  auto cfg = tiny_config(dir / "gta", dir / "run", 3);
  cfg.model.init = (dir / "backbone.pt").string();
  cfg.model.norm_eval = true;
  train(cfg);
  int backbone_layers = 0, head_layers = 0;
  for (const auto& [name, value] : weights_of(dir / "run")) {
    if (name.find("running_mean") == std::string::npos) continue;
    if (name.rfind("backbone.", 0) == 0) {
      ++backbone_layers;
      EXPECT_TRUE(torch::all(value == 0.25).item<bool>()) << name;
    } else {
      ++head_layers;
      EXPECT_GT(value.abs().sum().item<double>(), 0.0) << name;  // moved from its fresh 0
    }
  }
  EXPECT_GT(backbone_layers, 10);
  EXPECT_EQ(head_layers, 1);  // classifier.cbr's
}

// --resume-from: a run continues from another folder's checkpoint and ends with the
// weights the uninterrupted run has; its own folder keeps its log and files.
TEST(Trainer, ResumeFromAnotherCheckpointBranchesARun) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  train(tiny_config(dir / "gta", dir / "full", 6));
  train(tiny_config(dir / "gta", dir / "first", 6), TrainOptions{false, 3});
  TrainResult branch = train(tiny_config(dir / "gta", dir / "branch", 6),
                             TrainOptions{false, -1, (dir / "first" / "checkpoint.pt").string()});
  EXPECT_EQ(branch.iterations, 6);
  auto wa = weights_of(dir / "full"), wb = weights_of(dir / "branch");
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i].second, wb[i].second)) << wa[i].first;
  EXPECT_FALSE(fs::exists(dir / "first" / "model.pt"));  // the source folder is left as it was
  EXPECT_THROW(train(tiny_config(dir / "gta", dir / "other", 6), TrainOptions{false, -1, (dir / "none.pt").string()}),
               Error);
}

// With data.val: best_model.pt + best.json follow the best periodic evaluation, and
// metrics.csv holds one row per logged iteration with the val mIoU where evaluated.
TEST(Trainer, KeepsTheBestModelAndWritesACsv) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto cfg = tiny_config(dir / "gta", dir / "run", 6);
  cfg.data.val = cfg.data.source;
  cfg.train.eval_every = 2;
  train(cfg);
  ASSERT_TRUE(fs::exists(dir / "run" / "best_model.pt"));
  const auto best = nlohmann::json::parse(segtransfer::read_text_file(dir / "run" / "best.json"));
  double best_seen = -1;
  int64_t best_iter = -1;
  std::ifstream log(dir / "run" / "metrics.jsonl");
  for (std::string l; std::getline(log, l);) {
    const auto j = nlohmann::json::parse(l);
    if (j.contains("eval") && j["eval"]["miou"].get<double>() > best_seen)
      best_seen = j["eval"]["miou"].get<double>(), best_iter = j["iter"].get<int64_t>();
  }
  EXPECT_DOUBLE_EQ(best["miou"].get<double>(), best_seen);
  EXPECT_EQ(best["iter"].get<int64_t>(), best_iter);
  const std::string csv = segtransfer::read_text_file(dir / "run" / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')).rfind("iter,", 0), 0u) << csv;
  EXPECT_NE(csv.find(",val_miou,"), std::string::npos) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7) << csv;  // header + iterations 1..6
}

TEST(Trainer, TimeBudgetEndsTheRunAndDrivesTheSchedule) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto cfg = tiny_config(dir / "gta", dir / "run", 100000);
  cfg.train.time_budget_min = 1.5 / 60;  // 1.5 s of training
  cfg.train.checkpoint_every = 100000;
  TrainResult r = train(cfg);
  EXPECT_GT(r.iterations, 0);
  EXPECT_LT(r.iterations, 100000);
  EXPECT_GE(r.seconds, 1.5);
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_TRUE(fs::exists(dir / "run" / "model.pt"));
  // The decay follows the spent share of the budget: progress rises to ~1, the lr falls with it.
  std::ifstream log(dir / "run" / "metrics.jsonl");
  double last_progress = -1, last_lr = 1;
  for (std::string l; std::getline(log, l);) {
    auto j = nlohmann::json::parse(l);
    EXPECT_GT(j["progress"].get<double>(), last_progress);
    last_progress = j["progress"].get<double>();
    last_lr = j["lr"].get<double>();
  }
  EXPECT_GT(last_progress, 0.5);
  EXPECT_LT(last_progress, 1.0);
  EXPECT_LT(last_lr, 1.0e-3 * (1 - 0.5));
  // Resuming a spent budget trains nothing more.
  TrainResult again = train(cfg, TrainOptions{true});
  EXPECT_EQ(again.iterations, r.iterations);
}

// train.time_budget_clock: cpu counts the process's CPU time per thread, so a run that
// shares its core with another busy process trains as much as it would alone, taking longer.
TEST(Trainer, CpuClockBudgetIsNotEatenByACompetingProcess) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto cfg = tiny_config(dir / "gta", dir / "run", 100000);
  cfg.train.threads = 1;
  cfg.train.time_budget_min = 1.0 / 60;  // 1 s of CPU time
  cfg.train.time_budget_clock = "cpu";
  cfg.train.checkpoint_every = 100000;
  // This process and a busy child on one core: each gets about half of it.
  cpu_set_t one_core, before;
  sched_getaffinity(0, sizeof before, &before);
  CPU_ZERO(&one_core);
  CPU_SET(sched_getcpu(), &one_core);
  ASSERT_EQ(sched_setaffinity(0, sizeof one_core, &one_core), 0);
  const pid_t busy = fork();
  if (busy == 0) {
    for (volatile uint64_t i = 0;; i = i + 1) {
    }
  }
  const double cpu_before = process_cpu_seconds();
  const auto wall_before = std::chrono::steady_clock::now();
  TrainResult r = train(cfg);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  const double cpu = process_cpu_seconds() - cpu_before;
  kill(busy, SIGKILL);
  waitpid(busy, nullptr, 0);
  sched_setaffinity(0, sizeof before, &before);
  EXPECT_GE(r.seconds, 1.0);
  EXPECT_GE(cpu, 1.0);         // the budget was CPU time actually spent training
  EXPECT_GT(wall, 1.5 * cpu);  // ...while the competitor took its share of the core
}

TEST(Trainer, RefusesToOverwriteARun) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto cfg = tiny_config(dir / "gta", dir / "run", 3);
  train(cfg, TrainOptions{false, 3});
  EXPECT_THROW(train(cfg), Error);
}

TEST(Trainer, LossGoesDownOnATinySet) {
  TempDir dir;
  write_tiny_gta(dir / "gta");
  auto cfg = tiny_config(dir / "gta", dir / "run", 30);
  train(cfg);
  std::ifstream log(dir / "run" / "metrics.jsonl");
  std::vector<double> losses;
  for (std::string l; std::getline(log, l);) {
    auto j = nlohmann::json::parse(l);
    if (j.contains("loss")) losses.push_back(j["loss"].get<double>());
  }
  ASSERT_EQ(losses.size(), 30u);
  double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[27] + losses[28] + losses[29]) / 3;
  EXPECT_LT(last, 0.7 * first);
}

TEST(Checkpoint, CorruptFileIsAClearError) {
  TempDir dir;
  std::ofstream(dir / "checkpoint.pt") << "not a checkpoint";
  auto model = make_model("lraspp_mobilenet_v3_small", 19);
  EXPECT_THROW(load_model_weights((dir / "checkpoint.pt").string(), *model), Error);
  EXPECT_THROW(load_model_weights((dir / "missing.pt").string(), *model), Error);
}
