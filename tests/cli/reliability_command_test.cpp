// `segtransfer reliability` on a tiny STvM run of the synthetic benchmark.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "models/model.h"
#include "models/weight_import.h"
#include "test_util.h"

using segtransfer::testing::contains;
using segtransfer::testing::run_cli;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

TEST(ReliabilityCommand, AuditsATinyStvmRunOneRowPerClass) {
  TempDir dir;
  ASSERT_EQ(run_cli("synth -o " + (dir / "synth").string() +
                    " --size 64x32 --source-train 2 --source-val 1 --target-train 4 --target-val 2 --threads 1")
                .code,
            0);
  auto source = segtransfer::make_model("lraspp_mobilenet_v3_small", 19);  // stands in for a trained source model
  segtransfer::save_state_dict(*source, (dir / "source.pt").string());
  segtransfer::write_text_atomically(dir / "c.yaml", fmt::format(R"(method: stvm
output: {0}/run
model: {{name: lraspp_mobilenet_v3_small, num_classes: 19}}
data:
  target: {{type: cityscapes, root: {0}/synth/target, split: train}}
  val: {{type: cityscapes, root: {0}/synth/target, split: val}}
  augment: {{crop: [48, 32]}}
stvm: {{source_weights: {0}/source.pt, max_anchor_pixels: 64}}
train: {{iterations: 2, batch_size: 2, checkpoint_every: 1, log_every: 1, workers: 1, threads: 1}}
)",
                                                                 dir.str()));
  const auto train = run_cli("train -c " + (dir / "c.yaml").string());
  ASSERT_EQ(train.code, 0) << train.output;

  const auto r = run_cli("reliability --run " + (dir / "run").string() + " -o " + (dir / "rel.md").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "AUROC reliability")) << r.output;
  const std::string md = segtransfer::read_text_file(dir / "rel.md");
  std::istringstream lines(md);
  int rows = 0;
  for (std::string l; std::getline(lines, l);)
    if (l.rfind("| ", 0) == 0 && !contains(l, "pseudo-label class")) ++rows;
  EXPECT_EQ(rows, 19 + 1) << md;  // Cityscapes' 19 classes and all
  const auto j = nlohmann::json::parse(segtransfer::read_text_file(dir / "rel.md.json"));
  EXPECT_EQ(j["classes"].size(), 19u);
  EXPECT_EQ(j["images"], 2);
  EXPECT_EQ(j["iteration"], 2);
}

TEST(ReliabilityCommand, NamesAMissingCheckpointAndAnUnknownOption) {
  TempDir dir;
  const auto r = run_cli("reliability --run " + (dir / "nowhere").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "no checkpoint.pt there")) << r.output;
  const auto bad = run_cli("reliability --run " + dir.str() + " --no-such-option");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.output, "no-such-option")) << bad.output;
}
