// CoRTe and its baselines end to end on a tiny synthetic target with a stored
// black box whose answers are the ground truth blurred by noise.
#include "methods/corte.h"

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "data/synthetic.h"
#include "engine/trainer.h"
#include "models/weight_import.h"
#include "teachers/answer_statistics.h"
#include "teachers/prediction_store.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Synthetic target (8 train images, 64x32) and a store of noisy answers: noisy
// probabilities, or (label_only) their argmax as a label-only black box answers.
void write_target_and_store(const fs::path& root, bool label_only = false) {
  SynthOptions o;
  o.out = (root / "synth").string();
  o.source_train = o.source_val = 2;
  o.target_train = 8;
  o.target_val = 2;
  o.size = cv::Size(64, 32);
  o.threads = 1;
  write_synthetic_benchmark(o);
  DatasetSpec spec{"cityscapes", (root / "synth" / "target").string(), "train", "", "", {}, true};
  auto target = open_dataset(spec);
  const auto store = PredictionStore::open_for_writing((root / "store").string(), {2, 19, "noisy truth"});
  torch::manual_seed(0);
  for (size_t i = 0; i < target->size(); ++i) {
    Sample s = target->read(i);
    auto truth = torch::from_blob(s.label.data, {s.label.rows, s.label.cols}, torch::kUInt8).to(torch::kLong);
    auto logits = torch::randn({19, s.label.rows, s.label.cols}) * 1.5;
    logits.scatter_add_(0, truth.clamp_max(18).unsqueeze(0), torch::full({1, s.label.rows, s.label.cols}, 2.0));
    TeacherAnswer a;
    a.probabilities = torch::softmax(logits, 0);
    if (label_only) {
      auto labels = a.probabilities.argmax(0).to(torch::kUInt8).contiguous();
      a.labels = cv::Mat(s.label.rows, s.label.cols, CV_8UC1, labels.data_ptr<uint8_t>()).clone();
      a.probabilities = torch::Tensor();
    }
    store.put(s.stem, a);
  }
}

RunConfig corte_config(const fs::path& root, const std::string& method, const std::string& out, int iterations) {
  return load_config_text(fmt::format(R"(
method: {}
output: {}
model: {{name: lraspp_mobilenet_v3_small, num_classes: 19}}
data:
  target: {{type: cityscapes, root: {}, split: train, labels: true}}
  augment: {{crop: [48, 32], hflip: 0.5}}
store: {{path: {}}}
corte: {{refine_start: 0.0, refine_min_agreement: 0.0, diagnostics_every: 3, jitter_p: 1.0}}
optim: {{lr: 1.0e-3, warmup_iters: 2}}
train: {{iterations: {}, batch_size: 2, checkpoint_every: 3, log_every: 1, workers: 1, threads: 1, seed: 5}}
)",
                                      method, (root / out).string(), (root / "synth" / "target").string(),
                                      (root / "store").string(), iterations));
}

}  // namespace

TEST(Corte, ResumeIsExactWithRefinementAndMixing) {
  TempDir dir;
  write_target_and_store(dir.path());
  train(corte_config(dir.path(), "corte", "full", 6));
  auto split = corte_config(dir.path(), "corte", "split", 6);
  train(split, TrainOptions{false, 3});
  train(split, TrainOptions{true});
  auto a = read_state_dict((dir / "full" / "model.pt").string()),
       b = read_state_dict((dir / "split" / "model.pt").string());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;

  // Diagnostics a user looks at: the audit, the per-class log and the grids.
  auto audit = nlohmann::json::parse(read_text_file(dir / "full" / "pseudo_label_audit.json"));
  EXPECT_EQ(audit["classes"].size(), 19u);
  EXPECT_GT(audit["kept_share"].get<double>(), 0.2);
  EXPECT_LT(audit["kept_share"].get<double>(), 0.9);
  // Relative-confidence thresholds keep labels that are more often right than all of them.
  EXPECT_GT(audit["kept_accuracy"].get<double>(), audit["all_accuracy"].get<double>());
  const std::string table = read_text_file(dir / "full" / "pseudo_label_audit.md");
  EXPECT_TRUE(contains(table, "| road |")) << table;
  EXPECT_TRUE(contains(table, "relative / per_class thresholds keep")) << table;
  EXPECT_TRUE(fs::exists(dir / "full" / "diagnostics" / "iter_0000006.png"));
  std::ifstream log(dir / "full" / "diagnostics" / "pseudo_labels.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, 2);
  // The metrics say refinement ran (min agreement 0, start 0).
  const std::string metrics = read_text_file(dir / "full" / "metrics.jsonl");
  EXPECT_TRUE(contains(metrics, "\"refining\":1.0")) << metrics.substr(0, 400);
}

TEST(Corte, BaselinesTrainAndLossGoesDown) {
  TempDir dir;
  write_target_and_store(dir.path());
  for (const std::string method : {"plain_distill", "soft_distill", "threshold_distill"}) {
    auto cfg = corte_config(dir.path(), method, method, 12);
    cfg.train.batch_size = 4;
    if (method == "threshold_distill")
      cfg.tree["corte"]["fixed_threshold"] = 0.5;  // the noisy answers rarely reach 0.968
    TrainResult r = train(cfg);
    EXPECT_EQ(r.iterations, 12) << method;
    std::ifstream log(dir / method / "metrics.jsonl");
    std::vector<double> losses;
    for (std::string l; std::getline(log, l);) {
      auto j = nlohmann::json::parse(l);
      if (j.contains("loss")) losses.push_back(j["loss"].get<double>());
    }
    ASSERT_EQ(losses.size(), 12u) << method;
    const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[9] + losses[10] + losses[11]) / 3;
    EXPECT_LT(last, first) << method;
  }
}

TEST(Corte, NeedsAStore) {
  TempDir dir;
  auto cfg = corte_config(dir.path(), "corte", "x", 2);
  cfg.store.path = "";
  EXPECT_TRUE(contains(error_of([&] { train(cfg); }), "store.path"));
  cfg.store.path = (dir / "nothing").string();
  EXPECT_TRUE(contains(error_of([&] { train(cfg); }), "not a prediction store"));
}

TEST(Corte, LabelOnlyBlackBoxKeepsEveryLabelledPixel) {
  TempDir dir;
  write_target_and_store(dir.path(), /*label_only=*/true);
  TrainResult r = train(corte_config(dir.path(), "corte", "labels", 4));
  EXPECT_EQ(r.iterations, 4);
  // Relative confidence of a hard label is 1: part (i) keeps every pixel, the rest of CoRTe still runs.
  auto audit = nlohmann::json::parse(read_text_file(dir / "labels" / "pseudo_label_audit.json"));
  EXPECT_DOUBLE_EQ(audit["kept_share"].get<double>(), 1.0);
  EXPECT_TRUE(contains(read_text_file(dir / "labels" / "metrics.jsonl"), "\"refining\":1.0"));
}

// corte.evaluate_ema: the model written (and scored) is the student's EMA, kept even
// by a baseline without refinement; the student itself stays in the checkpoint.
TEST(Corte, EvaluateEmaWritesTheEmaAsTheModel) {
  TempDir dir;
  write_target_and_store(dir.path());
  auto plain = corte_config(dir.path(), "plain_distill", "student", 4);
  train(plain);
  auto ema = corte_config(dir.path(), "plain_distill", "ema", 4);
  ema.tree["corte"]["evaluate_ema"] = true;
  ema.tree["corte"]["ema_momentum"] = 0.9;
  train(ema);
  const auto student = read_state_dict((dir / "student" / "model.pt").string());
  const auto averaged = read_state_dict((dir / "ema" / "model.pt").string());
  ASSERT_EQ(student.size(), averaged.size());
  bool differs = false;
  for (size_t i = 0; i < student.size(); ++i) {
    ASSERT_EQ(student[i].first, averaged[i].first);
    differs = differs || !torch::equal(student[i].second, averaged[i].second);
  }
  EXPECT_TRUE(differs) << "the EMA run wrote the student's weights";
  // The training itself is unchanged: the same student in both checkpoints.
  SegmentationModel a = make_model("lraspp_mobilenet_v3_small", 19), b = make_model("lraspp_mobilenet_v3_small", 19);
  load_model_weights((dir / "student" / "checkpoint.pt").string(), *a);
  load_model_weights((dir / "ema" / "checkpoint.pt").string(), *b);
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

// data.rare_class_sampling.target: the target images are drawn by the classes the stored
// answers show (the most frequent class almost never), and the log names the shares.
TEST(Corte, TargetRareClassSamplingDrawsByTheStoredAnswers) {
  TempDir dir;
  write_target_and_store(dir.path());
  auto cfg = corte_config(dir.path(), "plain_distill", "rcs", 3);
  cfg.data.rare_class_sampling.target = true;
  cfg.data.rare_class_sampling.min_pixels = 20;  // 64x32 images: DAFormer's 3000 is more than one holds
  std::ostringstream captured;
  spdlog::default_logger()->sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  const TrainResult r = train(cfg);
  spdlog::default_logger()->sinks().pop_back();
  EXPECT_EQ(r.iterations, 3);
  const std::string log = captured.str();
  const auto at = log.find("rare-class sampling of data.target by its stored answers (T 0.01): classes drawn");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string line = log.substr(at, log.find('\n', at) - at);

  // The same shares from the store: the line names the most drawn class and its share, not the most common one.
  const auto target = open_dataset(cfg.data.target);
  const ClassStatistics stats = answer_class_statistics(PredictionStore::open(cfg.store.path), *target);
  const RareClassSampler sampler(stats, 0.01, 20);
  const auto& p = sampler.class_probabilities();
  const auto f = stats.frequencies();
  const auto top = std::max_element(p.begin(), p.end()) - p.begin();
  const auto common = std::max_element(f.begin(), f.end()) - f.begin();
  const auto& names = target->label_space().classes;
  EXPECT_TRUE(contains(line, fmt::format(" {} {:.0f}%", names[top], 100 * p[top]))) << line;
  EXPECT_FALSE(contains(line, " " + names[common] + " ")) << line << " (most common: " << names[common] << ")";
  EXPECT_LT(p[common], 0.005);
}
