// The reliability audit (methods/common/reliability_audit, methods/stvm_reliability) on
// hand-made pixels whose answers are known.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/config.h"
#include "methods/common/reliability_audit.h"
#include "methods/stvm.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;

namespace {

// Three model classes: a → 0, b → 1, c → none. Eight pixels in one row:
//   pseudo  a    a    a    a    b    b    c    a
//   truth   0    0    1    1    1    0    0    255
//   reliab. .9   .8   .2   .1   .7   .6   .5   .99   (right above wrong: AUROC 1)
//   conf.   .97  .5   .97  .5   .99  .99  .99  .99   (right and wrong alike: AUROC 0.5)
ReliabilityAudit hand_made() {
  ClassMapping mapping;
  mapping.target_of = {0, 1, -1};
  mapping.num_target_classes = 2;
  ReliabilityAudit audit({"a", "b", "c"}, mapping, 0.968);
  const auto shape = std::vector<int64_t>{1, 8};
  audit.add(torch::tensor({0, 0, 0, 0, 1, 1, 2, 0}, torch::kLong).view(shape),
            torch::tensor({0.97, 0.5, 0.97, 0.5, 0.99, 0.99, 0.99, 0.99}, torch::kDouble).view(shape),
            torch::tensor({0.9f, 0.8f, 0.2f, 0.1f, 0.7f, 0.6f, 0.5f, 0.99f}).view(shape),
            torch::tensor({0, 0, 1, 1, 1, 0, 0, 255}, torch::kLong).view(shape));
  return audit;
}

}  // namespace

TEST(ReliabilityAudit, PerClassStatisticsOnAKnownExample) {
  const ReliabilityAudit audit = hand_made();
  const ReliabilityClassStats& a = audit.stats(0);
  EXPECT_EQ(a.pixels, 4);  // the ignored pixel is skipped
  EXPECT_DOUBLE_EQ(a.accuracy(), 0.5);
  EXPECT_NEAR(a.mean_reliability(true), 0.85, 1e-6);
  EXPECT_NEAR(a.mean_reliability(false), 0.15, 1e-6);
  EXPECT_DOUBLE_EQ(a.reliability_auroc(), 1.0);  // reliability separates right from wrong
  EXPECT_DOUBLE_EQ(a.confidence_auroc(), 0.5);   // confidence does not
  EXPECT_DOUBLE_EQ(a.kept_share(), 0.5);         // 0.97 >= 0.968 twice
  EXPECT_DOUBLE_EQ(a.kept_accuracy(), 0.5);
  EXPECT_NEAR(a.weighted_accuracy(), 1.7 / 2.0, 1e-6);
  const ReliabilityClassStats& b = audit.stats(1);
  EXPECT_EQ(b.pixels, 2);
  EXPECT_EQ(b.right, 1);
  EXPECT_DOUBLE_EQ(b.reliability_auroc(), 1.0);
  EXPECT_DOUBLE_EQ(b.kept_share(), 1.0);
  // The class with no target class is counted apart, neither right nor wrong.
  const ReliabilityClassStats& c = audit.stats(2);
  EXPECT_EQ(c.pixels, 0);
  EXPECT_EQ(c.unmapped, 1);
  EXPECT_TRUE(std::isnan(c.accuracy()));
  const ReliabilityClassStats all = audit.overall();
  EXPECT_EQ(all.pixels, 6);
  EXPECT_EQ(all.right, 3);
  EXPECT_DOUBLE_EQ(all.reliability_auroc(), 1.0);
  EXPECT_DOUBLE_EQ(all.confidence_auroc(), 0.5);
}

TEST(ReliabilityAudit, HistogramAurocOrdersAndTies) {
  // Bin 0 holds the highest scores.
  EXPECT_DOUBLE_EQ(histogram_auroc({3, 0, 0}, {0, 0, 2}), 1.0);
  EXPECT_DOUBLE_EQ(histogram_auroc({0, 0, 3}, {2, 0, 0}), 0.0);
  EXPECT_DOUBLE_EQ(histogram_auroc({0, 4, 0}, {0, 1, 0}), 0.5);
  EXPECT_DOUBLE_EQ(histogram_auroc({1, 1}, {0, 1}), 0.75);
  EXPECT_TRUE(std::isnan(histogram_auroc({1, 0}, {0, 0})));
}

TEST(ReliabilityAudit, MarkdownAndJsonNameEveryClass) {
  const ReliabilityAudit audit = hand_made();
  const std::string md = audit.markdown();
  EXPECT_TRUE(contains(md, "| a | 4 | 50.0% | 0.850 | 0.150 | 1.000 | 0.500 | 50.0% | 50.0% | 85.0% |")) << md;
  EXPECT_TRUE(contains(md, "| c | 1 | no target class: not scored |")) << md;
  EXPECT_TRUE(contains(md, "(pixels: c 1)")) << md;
  EXPECT_TRUE(contains(md, "| **all** | 6 | 50.0% |")) << md;
  const nlohmann::json j = audit.json();
  ASSERT_EQ(j["classes"].size(), 3u);
  EXPECT_TRUE(j["classes"][2]["accuracy"].is_null());
  EXPECT_TRUE(j["classes"][2]["target_class"].is_null());
  EXPECT_EQ(j["classes"][2]["unmapped_pixels"], 1);
  EXPECT_DOUBLE_EQ(j["all"]["auroc_reliability"].get<double>(), 1.0);
  EXPECT_EQ(j["images"], 1);
}

TEST(ReliabilityAudit, ACheckpointWithoutStvmStateIsNamed) {
  torch::serialize::OutputArchive out;
  out.write("something_else", torch::zeros({1}));
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  const RunConfig cfg = load_config_text("method: stvm\nstvm: {source_weights: s.pt}\n");
  EXPECT_TRUE(contains(error_of([&] { load_stvm_teacher(in, cfg, torch::kCPU); }), "trained with method stvm?"));
}
