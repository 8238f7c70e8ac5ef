#include "eval/comparison.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/atomic_file.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;
using segtransfer::testing::TempDir;

namespace {

// A finished run folder whose 3-class evaluation has the given IoUs (class 2 absent: NaN).
std::string write_run(const TempDir& dir, const std::string& name, double iou0, double iou1, double seconds) {
  EvalResult r;
  r.protocol = "all";
  r.names = {"road", "car", "rider"};
  r.classes = {0, 1, 2};
  r.iou = {iou0, iou1, std::nan("")};
  r.miou = (iou0 + iou1) / 2;
  r.images = 4;
  const auto run = dir / name;
  std::filesystem::create_directories(run);
  write_text_atomically(run / "metrics.json", to_json(r));
  // The peak memory a resumed run logs is the largest of its processes' peaks.
  write_text_atomically(run / "metrics.jsonl",
                        fmt::format("{{\"iter\":50,\"elapsed_s\":{},\"peak_rss_mib\":{}}}\n{{\"iter\":100,"
                                    "\"elapsed_s\":{},\"peak_rss_mib\":{}}}\n{{\"iter\":100,\"eval\":{{}}}}\n",
                                    seconds / 2, 10 * seconds, seconds, 5 * seconds));
  return run.string();
}

}  // namespace

TEST(Comparison, MeanAndSpreadOverSeedsPerRow) {
  TempDir dir;
  const ComparisonRow plain{
      "plain",
      {read_run_summary(write_run(dir, "p0", 0.8, 0.2, 60)), read_run_summary(write_run(dir, "p1", 0.6, 0.4, 120))}};
  const ComparisonRow one{"single", {read_run_summary(write_run(dir, "s0", 0.9, 0.5, 0))}};
  EXPECT_EQ(plain.runs[0].iterations, 100);
  EXPECT_DOUBLE_EQ(plain.runs[1].train_seconds, 120);
  const std::string table = format_markdown_comparison({plain, one});
  // mIoU of both seeds is 50.0: spread 0; training minutes (1 + 2) / 2; road (80 + 60) / 2.
  // Peak memory: the largest over the row's runs (600 and 1200 MiB → 1200).
  EXPECT_DOUBLE_EQ(plain.runs[0].peak_rss_mib, 600);
  EXPECT_TRUE(contains(table, "| method | runs | mIoU3 | train min | iterations | peak MiB | road | car | rider |"))
      << table;
  EXPECT_TRUE(contains(table, "| plain | 2 | 50.0 ± 0.0 | 1.5 | 100 | 1200 | 70.0 | 30.0 | n/a |")) << table;
  EXPECT_TRUE(contains(table, "| single | 1 | 70.0 | - | 100 | - | 90.0 | 50.0 | n/a |")) << table;
}

TEST(Comparison, SpreadIsTheSampleStandardDeviation) {
  TempDir dir;
  // mIoUs 0.4, 0.5, 0.6: sample sd 0.1.
  const ComparisonRow row{
      "x",
      {read_run_summary(write_run(dir, "a", 0.4, 0.4, 1)), read_run_summary(write_run(dir, "b", 0.5, 0.5, 1)),
       read_run_summary(write_run(dir, "c", 0.6, 0.6, 1))}};
  EXPECT_TRUE(contains(format_markdown_comparison({row}), "| x | 3 | 50.0 ± 10.0 |"));
}

TEST(Comparison, BadInputIsNamed) {
  TempDir dir;
  EXPECT_TRUE(contains(error_of([&] { read_run_summary((dir / "nothing").string()); }), "no metrics.json"));
  std::filesystem::create_directories(dir / "broken");
  write_text_atomically(dir / "broken" / "metrics.json", "{\"protocol\": 3}");
  const std::string error = error_of([&] { read_run_summary((dir / "broken").string()); });
  EXPECT_TRUE(contains(error, "broken/metrics.json")) << error;
  EXPECT_TRUE(contains(error, "not a metrics file")) << error;
}
