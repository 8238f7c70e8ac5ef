// Disk full, an unwritable output folder and too little memory for the batch: a
// clear one-line error, a non-zero exit, and the previous checkpoint intact.
// The limits are the process's own (ulimit -f / -v), so no root or tmpfs is needed.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "engine/checkpoint.h"
#include "models/model.h"
#include "test_util.h"

namespace segtransfer {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::contains;
using testing::TempDir;

// `segtransfer ARGS` under bash with `limits` applied first (SIGXFSZ ignored, as a
// full disk gives EFBIG/ENOSPC to the writer rather than a signal).
CliResult run_limited(const std::string& limits, const std::string& args) {
  return testing::run_shell("bash -c \"trap '' XFSZ; " + limits + "; exec " + SEGTRANSFER_CLI_PATH + " " + args + "\"");
}

std::string tiny_run_args(const TempDir& dir) {
  write_text_atomically(dir / "c.yaml", fmt::format(R"(method: source_only
model: {{name: lraspp_mobilenet_v3_small, num_classes: 19}}
data:
  source: {{type: gta5, root: {}}}
  augment: {{crop: [40, 24]}}
train: {{iterations: 10, batch_size: 2, checkpoint_every: 5, log_every: 5, threads: 1, workers: 1}}
)",
                                                    (dir / "gta").string()));
  return "train -c " + (dir / "c.yaml").string();
}

TEST(ResourceFaults, DiskFullFailsClearlyAndKeepsThePreviousCheckpoint) {
  TempDir dir;
  testing::write_tiny_gta5(dir / "gta", 4);
  const std::string train = tiny_run_args(dir) + " -o " + (dir / "run").string();
  ASSERT_EQ(testing::run_cli(train + " --stop-at 5").code, 0);
  const auto size_before = fs::file_size(dir / "run" / "checkpoint.pt");
  // 4 MB of file size allowed: the 13 MB checkpoint of iteration 10 cannot be written.
  const CliResult full = run_limited("ulimit -f 4096", train + " --resume");
  EXPECT_EQ(full.code, 1) << full.output;
  EXPECT_TRUE(contains(full.output, "error: cannot write checkpoint")) << full.output;
  EXPECT_TRUE(contains(full.output, "the previous checkpoint is kept")) << full.output;
  EXPECT_FALSE(contains(full.output, "terminate called")) << full.output;
  EXPECT_EQ(fs::file_size(dir / "run" / "checkpoint.pt"), size_before);
  // With room again, the run resumes from that checkpoint and finishes.
  const CliResult resumed = testing::run_cli(train + " --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "at iteration 5")) << resumed.output;
  EXPECT_TRUE(fs::exists(dir / "run" / "model.pt"));
}

TEST(ResourceFaults, UnwritableOutputFolderIsNamed) {
  TempDir dir;
  testing::write_tiny_gta5(dir / "gta", 2);
  write_text_atomically(dir / "a_file", "not a folder\n");
  const CliResult r = testing::run_cli(tiny_run_args(dir) + " -o " + (dir / "a_file" / "run").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.output, "error: cannot create output folder " + (dir / "a_file" / "run").string()))
      << r.output;
}

TEST(ResourceFaults, TooLittleMemoryForTheBatchSaysWhatToReduce) {
  TempDir dir;
  testing::write_tiny_gta5(dir / "gta", 2);
  // 2.5 GB of address space; a batch of 48 crops of 320x160 needs more.
  const CliResult r =
      run_limited("ulimit -v 2500000", tiny_run_args(dir) + " -o " + (dir / "run").string() +
                                           " --set train.batch_size=48 --set data.augment.resize=[320,160]"
                                           " --set data.augment.crop=[320,160]");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: out of CPU memory at iteration 0 (one allocation of")) << r.output;
  EXPECT_TRUE(contains(r.output, "train.batch_size 48")) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run" / "checkpoint.pt"));
}

// A learning rate that blows the weights up: the first non-finite loss stops the run
// with its iteration and term named, before a step; no checkpoint holds NaN or Inf.
TEST(NumericalFaults, NonFiniteLossStopsTheRunAndNoNonFiniteWeightsAreWritten) {
  TempDir dir;
  testing::write_tiny_gta5(dir / "gta", 2);
  const CliResult r = testing::run_cli(tiny_run_args(dir) + " -o " + (dir / "run").string() +
                                       " --set optim.type=sgd --set optim.lr=1e30 --set optim.warmup_iters=0"
                                       " --set train.checkpoint_every=1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "error: non-finite source cross-entropy loss at iteration ")) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run" / "model.pt"));
  if (fs::exists(dir / "run" / "checkpoint.pt")) {
    SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
    load_model_weights((dir / "run" / "checkpoint.pt").string(), *model);
    for (const auto& p : model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  }
}

}  // namespace
}  // namespace segtransfer
