#include "eval/report.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.h"
#include "data/label_space.h"
#include "eval/metrics.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

EvalResult fake_result(double offset) {
  EvalResult r;
  r.protocol = "19";
  r.names = LabelSpace::cityscapes19().classes;
  for (int c = 0; c < 19; ++c) {
    r.classes.push_back(c);
    r.iou.push_back(std::min(1.0, 0.02 + 0.04 * c + offset));
  }
  r.miou = 0.4 + offset;
  r.pixel_accuracy = 0.8;
  r.images = 10;
  return r;
}

// A run folder as CoRTe leaves it: curves, final metrics, pseudo-label log and grid, predictions.
void write_fake_run(const fs::path& run, double offset) {
  fs::create_directories(run / "diagnostics");
  std::string lines;
  for (int it = 10; it <= 100; it += 10)
    lines +=
        fmt::format(
            R"({{"iter": {}, "lr": {}, "it_per_s": 2.0, "elapsed_s": {}, "peak_rss_mib": 400, "loss": {}, "kept": {}}})",
            it, 1e-3 * (1 - it / 120.0), it / 2.0, 2.0 / (1 + it / 30.0), 0.5 + it / 400.0) +
        "\n";
  for (const auto& [it, result] : {std::pair{50, fake_result(offset - 0.05)}, std::pair{100, fake_result(offset)}})
    lines += nlohmann::json{{"iter", it}, {"eval", nlohmann::json::parse(to_json(result))}}.dump() + "\n";
  write_text_atomically(run / "metrics.jsonl", lines);
  write_text_atomically(run / "metrics.json", to_json(fake_result(offset)));
  write_text_atomically(run / "config.yaml", "method: corte\nmodel: {name: lraspp_mobilenet_v3_small}\n");
  std::string pseudo;
  for (int it = 20; it <= 100; it += 20) {
    nlohmann::json classes = nlohmann::json::array();
    for (int c = 0; c < 19; ++c)
      classes.push_back({{"class", LabelSpace::cityscapes19().classes[c]},
                         {"threshold", 0.2 + 0.01 * c + it / 1000.0},
                         {"kept_share", 0.5 + 0.02 * c}});
    pseudo += nlohmann::json{{"iter", it}, {"classes", classes}}.dump() + "\n";
  }
  write_text_atomically(run / "diagnostics" / "pseudo_labels.jsonl", pseudo);
  cv::Mat grid(64, 320, CV_8UC3, cv::Scalar(30, 160, 90));
  cv::imwrite((run / "diagnostics" / "iter_0000100.png").string(), grid);
  cv::imwrite((run / "qualitative.png").string(), cv::Mat(128, 480, CV_8UC3, cv::Scalar(200, 60, 60)));
}

int count(const std::string& s, const std::string& part) {
  int n = 0;
  for (size_t p = s.find(part); p != std::string::npos; p = s.find(part, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(RunReport, SelfContainedWithEverySection) {
  TempDir dir;
  write_fake_run(dir / "corte", 0.05);
  write_fake_run(dir / "plain", 0.0);
  const std::string path = write_run_report((dir / "corte").string(), {(dir / "plain").string(), "plain distillation"});
  const std::string html = read_text_file(path);
  // Losses, mIoU, diagnostics, lr, bars, thresholds, kept share, CoRTe grid, predictions.
  EXPECT_EQ(count(html, "<img"), 9) << html.substr(0, 2000);
  EXPECT_EQ(count(html, "src=\"data:image/png;base64,"), 9);
  EXPECT_FALSE(contains(html, "http://") || contains(html, "https://"));  // nothing fetched
  EXPECT_TRUE(contains(html, "plain distillation"));
  EXPECT_TRUE(contains(html, "<td>+5.0</td>"));  // per-class difference against the baseline
  EXPECT_TRUE(contains(html, "Pseudo-labels (CoRTe)"));
  EXPECT_TRUE(contains(html, "method: corte"));
}

TEST(RunReport, LeavesOutWhatTheRunDoesNotHaveAndRejectsANonRun) {
  TempDir dir;
  fs::create_directories(dir / "run");
  write_text_atomically(dir / "run" / "metrics.jsonl", R"({"iter": 5, "loss": 1.5, "lr": 0.001})"
                                                       "\n");
  const std::string html = read_text_file(write_run_report((dir / "run").string()));
  EXPECT_TRUE(contains(html, "No validation during training"));
  EXPECT_TRUE(contains(html, "No metrics.json"));
  EXPECT_FALSE(contains(html, "Pseudo-labels"));
  EXPECT_TRUE(contains(segtransfer::testing::error_of([&] { write_run_report((dir / "nothing").string()); }),
                       "no metrics.jsonl"));
}

// Opens the report in headless Chromium, as a user's browser would: the page loads
// without script errors, every embedded image decodes, and the screenshot shows content.
TEST(RunReport, OpensInHeadlessChromium) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) {
    // CI installs Chromium and sets SEGTRANSFER_REQUIRE_CHROMIUM, so there a missing browser fails the test.
    if (std::getenv("SEGTRANSFER_REQUIRE_CHROMIUM"))
      FAIL() << chromium << " is missing but SEGTRANSFER_REQUIRE_CHROMIUM is set";
    GTEST_SKIP() << "Debian's chromium is not installed (.ci/run installs it)";
  }
  TempDir dir;
  write_fake_run(dir / "corte", 0.05);
  write_fake_run(dir / "plain", 0.0);
  const std::string path = write_run_report((dir / "corte").string(), {(dir / "plain").string(), "plain"});
  const std::string flags = fmt::format(
      "--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir={} --enable-logging=stderr --v=0",
      (dir / "profile").string());
  const std::string dom_cmd = fmt::format("{} {} --virtual-time-budget=5000 --dump-dom file://{} > {} 2> {}", chromium,
                                          flags, path, (dir / "dom.html").string(), (dir / "log.txt").string());
  ASSERT_EQ(std::system(dom_cmd.c_str()), 0) << read_text_file(dir / "log.txt");
  const std::string dom = read_text_file(dir / "dom.html");
  EXPECT_TRUE(contains(dom, "9 images shown, 0 broken")) << dom.substr(dom.rfind("image-check") - 20, 200);
  const std::string log = read_text_file(dir / "log.txt");
  EXPECT_FALSE(contains(log, "Uncaught")) << log;

  const std::string shot = (dir / "shot.png").string();
  const std::string shot_cmd =
      fmt::format("{} {} --window-size=1200,2400 --hide-scrollbars --screenshot={} file://{} 2> {}", chromium, flags,
                  shot, path, (dir / "log2.txt").string());
  ASSERT_EQ(std::system(shot_cmd.c_str()), 0) << read_text_file(dir / "log2.txt");
  const cv::Mat img = cv::imread(shot, cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.size(), cv::Size(1200, 2400));
  // Not a blank page: the plots' ink and colours cover a good part of it.
  cv::Mat gray, ink;
  cv::cvtColor(img, gray, cv::COLOR_BGR2GRAY);
  cv::threshold(gray, ink, 240, 255, cv::THRESH_BINARY_INV);
  EXPECT_GT(cv::countNonZero(ink), img.total() / 50);
}
