// The UDA methods end to end on a tiny synthetic benchmark: a few iterations,
// the loss goes down, resume is exact, the checkpoint reloads.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "data/synthetic.h"
#include "engine/checkpoint.h"
#include "engine/trainer.h"
#include "methods/common/self_training.h"
#include "models/model.h"
#include "models/weight_import.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void write_domains(const fs::path& root) {
  SynthOptions o;
  o.out = (root / "synth").string();
  o.source_train = 8;
  o.source_val = 2;
  o.target_train = 8;
  o.target_val = 2;
  o.size = cv::Size(64, 32);
  o.threads = 1;
  write_synthetic_benchmark(o);
}

RunConfig uda_config(const fs::path& root, const std::string& method, const std::string& out, int iterations,
                     const std::string& extra = "") {
  return load_config_text(fmt::format(R"(
method: {}
output: {}
model: {{name: lraspp_mobilenet_v3_small, num_classes: 19}}
data:
  source: {{type: gta5, root: {}, split: train}}
  target: {{type: cityscapes, root: {}, split: train, labels: true}}
  augment: {{crop: [48, 32], hflip: 0.5}}
self_training: {{ignore_top: 2, ignore_bottom: 4, jitter_p: 1.0}}
optim: {{lr: 1.0e-3, warmup_iters: 2}}
train: {{iterations: {}, batch_size: 2, checkpoint_every: 3, log_every: 1, workers: 1, threads: 1, seed: 5}}
{}
)",
                                      method, (root / out).string(), (root / "synth" / "source").string(),
                                      (root / "synth" / "target").string(), iterations, extra));
}

std::vector<double> logged(const fs::path& run, const std::string& key) {
  std::ifstream log(run / "metrics.jsonl");
  std::vector<double> values;
  for (std::string l; std::getline(log, l);) {
    auto j = nlohmann::json::parse(l);
    if (j.contains(key)) values.push_back(j[key].get<double>());
  }
  return values;
}

void expect_exact_resume(const fs::path& root, const std::string& method, const std::string& extra = "") {
  train(uda_config(root, method, method + "_full", 6, extra));
  auto split = uda_config(root, method, method + "_split", 6, extra);
  train(split, TrainOptions{false, 3});
  train(split, TrainOptions{true});
  auto a = read_state_dict((root / (method + "_full") / "model.pt").string());
  auto b = read_state_dict((root / (method + "_split") / "model.pt").string());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << method << " " << a[i].first;
  // The final weights load back into the network.
  auto model = make_model("lraspp_mobilenet_v3_small", 19);
  EXPECT_NO_THROW(load_model_weights((root / (method + "_split") / "model.pt").string(), *model));
}

void expect_loss_goes_down(const fs::path& root, const std::string& method, const std::string& key,
                           const std::string& extra = "") {
  auto cfg = uda_config(root, method, method + "_long", 16, extra);
  cfg.train.batch_size = 4;
  train(cfg);
  const auto losses = logged(root / (method + "_long"), key);
  ASSERT_EQ(losses.size(), 16u) << method;
  const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[13] + losses[14] + losses[15]) / 3;
  EXPECT_LT(last, first) << method << " " << key;
}

}  // namespace

TEST(SelfTraining, IgnoredRowsAndConfidentShare) {
  SelfTrainingOptions o;
  o.pseudo_threshold = 0.9;
  o.ignore_top = 1;
  o.ignore_bottom = 2;
  // (B=1, C=2, H=4, W=2): rows 0-1 confident class 1, rows 2-3 unsure.
  auto logits = torch::zeros({1, 2, 4, 2});
  logits.index_put_({0, 1, torch::indexing::Slice(0, 2)}, 5.0);
  const PseudoLabels p = confident_pseudo_labels(logits, o);
  EXPECT_EQ(p.labels[0][0][0].item<int64_t>(), 1);
  // Half of the pixels are confident: weight 0.5 but in the first row and the last two.
  auto expected = torch::tensor({0.0f, 0.0f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f}).view({1, 4, 2});
  EXPECT_TRUE(torch::allclose(p.weight, expected)) << p.weight;
  // A crop too short for both margins keeps every row.
  EXPECT_TRUE(torch::equal(ignore_rows(torch::ones({1, 3, 2}), 1, 2), torch::ones({1, 3, 2})));
}

// Each class keeps the pixels at or above its own mean p1 - p2 in the batch: a rare,
// unsure class keeps its best pixel where DACS's one threshold (0.968) keeps nothing.
TEST(SelfTraining, ClassRelativePseudoLabelsKeepEachClassItsMoreConfidentPart) {
  // Five pixels of one image, three classes; the logits are the log-probabilities.
  const auto p = torch::tensor({0.90f, 0.50f, 0.2f, 0.1f, 0.3f,   // class 0
                                0.05f, 0.40f, 0.5f, 0.6f, 0.3f,   // class 1
                                0.05f, 0.10f, 0.3f, 0.3f, 0.4f})  // class 2
                     .view({1, 3, 1, 5});
  SelfTrainingOptions o;
  o.ignore_top = o.ignore_bottom = 0;
  const PseudoLabels pseudo = class_relative_pseudo_labels(p.log(), o);
  EXPECT_TRUE(torch::equal(pseudo.labels, torch::tensor({0, 0, 1, 1, 2}, torch::kLong).view({1, 1, 5})));
  // p1 - p2: 0.85, 0.1 (class 0, mean 0.475); 0.2, 0.3 (class 1, mean 0.25); 0.1 (class 2 alone).
  EXPECT_TRUE(
      torch::allclose(pseudo.confidence, torch::tensor({0.85f, 0.1f, 0.2f, 0.3f, 0.1f}).view({1, 1, 5}), 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(pseudo.weight, torch::tensor({1.f, 0.f, 0.f, 1.f, 1.f}).view({1, 1, 5})));
  EXPECT_EQ(confident_pseudo_labels(p.log(), o).weight.sum().item<float>(), 0.f);
}

TEST(SelfTraining, MixedLabelsFollowTheMask) {
  SelfTrainingOptions o;
  o.strong_augment = false;
  auto source_labels = torch::tensor({0, 0, 1, 1}).view({1, 2, 2});
  auto source_images = torch::full({1, 3, 2, 2}, 7.0);
  auto target_images = torch::full({1, 3, 2, 2}, -7.0);
  PseudoLabels pseudo{torch::full({1, 2, 2}, 5, torch::kLong), torch::ones({1, 2, 2}), torch::full({1, 2, 2}, 0.25)};
  std::mt19937_64 rng(1);
  const MixedBatch m = class_mix_source_onto_target(source_images, source_labels, target_images, pseudo, o, rng);
  EXPECT_EQ(m.masks.sum().item<int64_t>(), 2);  // one of the two source classes
  EXPECT_TRUE(torch::equal(m.labels, torch::where(m.masks, source_labels, pseudo.labels)));
  EXPECT_TRUE(torch::equal(m.images.select(1, 0) > 0, m.masks));
  EXPECT_TRUE(torch::allclose(m.weight, torch::where(m.masks, torch::ones({1, 2, 2}), pseudo.weight)));
}

TEST(Uda, DacsTrainsResumesExactlyAndItsLossGoesDown) {
  TempDir dir;
  write_domains(dir.path());
  expect_exact_resume(dir.path(), "dacs");
  expect_loss_goes_down(dir.path(), "dacs", "source_loss");
  EXPECT_FALSE(logged(dir / "dacs_long", "pseudo_accuracy").empty());
}

namespace {
// A network with random weights saved as a state_dict: stands in for a trained source model.
std::string saved_model(const fs::path& root, const std::string& name) {
  auto model = make_model(name, 19);
  const std::string path = (root / (name + ".pt")).string();
  save_state_dict(*model, path);
  return path;
}
}  // namespace

TEST(Uda, DualTeacherDistilsFeaturesResumesExactlyAndItsLossGoesDown) {
  TempDir dir;
  write_domains(dir.path());
  const std::string extra = "dual_teacher: {teacher_model: lraspp_mobilenet_v3_large, teacher_weights: " +
                            saved_model(dir.path(), "lraspp_mobilenet_v3_large") + ", kl_weight: 0.1}";
  expect_exact_resume(dir.path(), "dual_teacher", extra);
  expect_loss_goes_down(dir.path(), "dual_teacher", "source_feature_loss", extra);
  EXPECT_FALSE(logged(dir / "dual_teacher_long", "target_kl_loss").empty());
  // Without the frozen teacher's weights the error names the key.
  EXPECT_TRUE(contains(error_of([&] { train(uda_config(dir.path(), "dual_teacher", "dt_none", 2)); }),
                       "dual_teacher.teacher_weights"));
}

TEST(Uda, StvmStartsFromTheSourceModelResumesExactlyAndLearnsItsMetric) {
  TempDir dir;
  write_domains(dir.path());
  const std::string source = saved_model(dir.path(), "lraspp_mobilenet_v3_small");
  const std::string extra = "stvm: {source_weights: " + source + ", max_anchor_pixels: 64}";
  expect_exact_resume(dir.path(), "stvm", extra);
  expect_loss_goes_down(dir.path(), "stvm", "metric_loss", extra);
  // The diagnostics where the target has ground truth (a random source model may get
  // every pixel wrong, so either of the two reliabilities may be missing).
  EXPECT_FALSE(logged(dir / "stvm_long", "pseudo_accuracy").empty());
  EXPECT_FALSE(logged(dir / "stvm_long", "reliability_right").empty() &&
               logged(dir / "stvm_long", "reliability_wrong").empty());
  EXPECT_TRUE(
      contains(error_of([&] { train(uda_config(dir.path(), "stvm", "stvm_none", 2)); }), "stvm.source_weights"));
  // The thresholded mean teacher it is compared with: DACS's weights, plain ClassMix.
  train(uda_config(dir.path(), "stvm", "stvm_threshold", 2,
                   "stvm: {source_weights: " + source + ", weighting: threshold, metric_mix: false}"));
  EXPECT_EQ(logged(dir / "stvm_threshold", "pixel_weight").size(), 2u);
  // Neither its weights nor its mix read the metric head, so it is not trained: a cheaper step.
  EXPECT_TRUE(logged(dir / "stvm_threshold", "metric_loss").empty());
  EXPECT_TRUE(logged(dir / "stvm_threshold", "reliability").empty());
  // ... and with per-class relative thresholds: about half of each class's pixels weigh 1.
  train(uda_config(dir.path(), "stvm", "stvm_class_relative", 2,
                   "stvm: {source_weights: " + source + ", weighting: class_relative, metric_mix: false}"));
  const auto class_relative = logged(dir / "stvm_class_relative", "pixel_weight");
  EXPECT_EQ(class_relative.size(), 2u);
  for (double w : class_relative) {
    EXPECT_GT(w, 0.0);
    EXPECT_LT(w, 1.0);
  }
  EXPECT_TRUE(contains(error_of([&] {
                         train(uda_config(dir.path(), "stvm", "stvm_bad", 2,
                                          "stvm: {source_weights: " + source + ", weighting: sometimes}"));
                       }),
                       "stvm.weighting"));
}

// stvm.freeze_backbone: the student's encoder ends as the source model's, its decoder moves.
TEST(Uda, StvmWithAFrozenBackboneAdaptsOnlyTheDecoder) {
  TempDir dir;
  write_domains(dir.path());
  const std::string source = saved_model(dir.path(), "lraspp_mobilenet_v3_small");
  train(uda_config(dir.path(), "stvm", "stvm_frozen", 2,
                   "stvm: {source_weights: " + source + ", max_anchor_pixels: 64, freeze_backbone: true}"));
  auto start = make_model("lraspp_mobilenet_v3_small", 19), trained = make_model("lraspp_mobilenet_v3_small", 19);
  load_model_weights(source, *start);
  load_model_weights((dir / "stvm_frozen" / "model.pt").string(), *trained);
  const auto start_backbone = start->backbone_parameters(), trained_backbone = trained->backbone_parameters();
  for (size_t i = 0; i < start_backbone.size(); ++i)
    EXPECT_TRUE(torch::equal(start_backbone[i], trained_backbone[i])) << "backbone tensor " << i;
  bool head_moved = false;
  const auto start_head = start->head_parameters(), trained_head = trained->head_parameters();
  for (size_t i = 0; i < start_head.size(); ++i) head_moved |= !torch::equal(start_head[i], trained_head[i]);
  EXPECT_TRUE(head_moved);
}

TEST(Uda, CldaTrainsTeacherAndStudentResumesExactlyAndLogsSaliency) {
  TempDir dir;
  write_domains(dir.path());
  const std::string extra = "clda: {update_every: 2}";
  expect_exact_resume(dir.path(), "clda", extra);
  expect_loss_goes_down(dir.path(), "clda", "source_loss", extra);
  const fs::path run = dir / "clda_long";
  EXPECT_FALSE(logged(run, "teacher_from_student_kl").empty());
  EXPECT_FALSE(logged(run, "teacher_saliency_rate").empty());
  EXPECT_TRUE(fs::exists(run / "clda_saliency_rates.png"));
  EXPECT_TRUE(fs::exists(run / "clda_saliency_rates.json"));
  auto teacher = make_model("lraspp_mobilenet_v3_large", 19);
  EXPECT_NO_THROW(load_model_weights((run / "clda_teacher.pt").string(), *teacher));
}

// data.rare_class_sampling.target needs stored answers: a method without a store refuses it,
// naming the key, in training and in the dry run alike.
TEST(Uda, TargetRareClassSamplingNeedsAPredictionStore) {
  TempDir dir;
  for (const std::string method : {"dacs", "source_only"}) {
    auto cfg = uda_config(dir.path(), method, method, 2);
    cfg.data.rare_class_sampling.target = true;
    const std::string trained = error_of([&] { train(cfg); });
    EXPECT_TRUE(contains(trained, "'data.rare_class_sampling.target'")) << trained;
    EXPECT_TRUE(contains(trained, "'" + method + "' reads no prediction store")) << trained;
    EXPECT_EQ(trained.find('\n'), std::string::npos) << trained;
    EXPECT_TRUE(contains(error_of([&] { dry_run(cfg); }), "'data.rare_class_sampling.target'"));
  }
}
