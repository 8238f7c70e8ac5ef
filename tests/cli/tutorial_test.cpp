// docs/tutorial.md as a user runs it, at a few iterations: a folder of images, a
// black box behind HTTP (`segtransfer serve`), dry run, query, CoRTe training with
// its report, ONNX export and prediction through OpenCV DNN.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <thread>

#include "core/atomic_file.h"
#include "data/synthetic.h"
#include "models/model.h"
#include "models/torchscript_export.h"
#include "test_util.h"

namespace segtransfer {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::contains;
using testing::run_cli;
using testing::TempDir;

// `segtransfer serve` in the background for the test's lifetime.
class ServedBlackBox {
 public:
  ServedBlackBox(const fs::path& model, const std::string& size, const fs::path& log) {
    const std::string cli = SEGTRANSFER_CLI_PATH;
    std::vector<std::string> args{cli, "serve", "-m", model.string(), "--size", size, "--port", "0", "--threads", "1"};
    pid_ = testing::spawn_logged(std::move(args), log);
    // The port it picked is in its first line.
    const std::regex line(R"(on (http://127\.0\.0\.1:\d+/predict))");
    for (int i = 0; i < 400 && url_.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::smatch m;
      const std::string text = fs::exists(log) ? read_text_file(log) : "";
      if (std::regex_search(text, m, line)) url_ = m[1];
    }
  }
  ~ServedBlackBox() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

TEST(Tutorial, FolderOfImagesAndAnHttpBlackBoxToAnOnnxStudent) {
  TempDir dir;
  // 1. A folder of unlabelled camera images.
  for (int i = 0; i < 6; ++i) {
    const fs::path file = dir / "my_data" / "images" / "cam0" / fmt::format("{:06d}.png", i);
    fs::create_directories(file.parent_path());
    cv::imwrite(file.string(), render_synthetic_scene(SynthDomain::Target, 100 + i, cv::Size(96, 64)).image);
  }
  // 2. The black box: a TorchScript model behind `segtransfer serve`.
  {
    torch::manual_seed(0);
    SegmentationModel source = make_model("lraspp_mobilenet_v3_small", 19);
    export_torchscript(*source, cv::Size(96, 64), (dir / "black_box.pt").string());
  }
  ServedBlackBox black_box(dir / "black_box.pt", "96x64", dir / "serve.log");
  ASSERT_FALSE(black_box.url().empty()) << read_text_file(dir / "serve.log");

  // 3. The config, as in the tutorial (shorter).
  const fs::path config = dir / "my.yaml";
  write_text_atomically(
      config,
      fmt::format(R"(method: corte
output: {run}
model: {{name: lraspp_mobilenet_v3_small, num_classes: 19}}
data:
  target: {{type: folder, root: {data}, label_space: cityscapes19, labels: false}}
  augment: {{scale_range: [0.75, 1.25], crop: [64, 48], hflip: 0.5}}
teacher:
  type: http
  url: {url}
  output: probabilities
  concurrency: 4
store: {{path: {store}, top_k: 2}}
corte: {{diagnostics_every: 2}}
optim: {{type: adamw, lr: 1.0e-3, head_lr_mult: 10.0, weight_decay: 0.01, warmup_iters: 2}}
train: {{iterations: 4, batch_size: 2, log_every: 2, checkpoint_every: 2, threads: 1, workers: 1}}
)",
                  fmt::arg("run", (dir / "runs" / "my_student").string()), fmt::arg("data", (dir / "my_data").string()),
                  fmt::arg("url", black_box.url()), fmt::arg("store", (dir / "runs" / "my_store").string())));
  const std::string c = " -c " + config.string();
  CliResult dry = run_cli("train --dry-run" + c);
  ASSERT_EQ(dry.code, 0) << dry.output;
  EXPECT_TRUE(contains(dry.output, "6 images")) << dry.output;
  EXPECT_TRUE(contains(dry.output, "store.path")) << dry.output;  // named: the query writes it

  // 4. Query.
  CliResult query = run_cli("query" + c);
  ASSERT_EQ(query.code, 0) << query.output << read_text_file(dir / "serve.log");
  EXPECT_TRUE(contains(query.output, "6 asked and stored, 0 rejected")) << query.output;

  // 5. Train; the run folder holds the weights and the report.
  CliResult train = run_cli("train" + c);
  ASSERT_EQ(train.code, 0) << train.output;
  EXPECT_TRUE(contains(train.output, "ETA")) << train.output;
  const fs::path run = dir / "runs" / "my_student";
  EXPECT_TRUE(fs::exists(run / "model.pt"));
  ASSERT_TRUE(fs::exists(run / "report.html")) << train.output;
  const std::string report = read_text_file(run / "report.html");
  EXPECT_TRUE(contains(report, "Pseudo-labels (CoRTe)"));
  EXPECT_TRUE(contains(report, "data:image/png;base64,"));

  // 6. Deploy: ONNX export, prediction with OpenCV DNN only.
  CliResult exported =
      run_cli("export --run " + run.string() + " -o " + (dir / "student.onnx").string() + " --size 96x64");
  ASSERT_EQ(exported.code, 0) << exported.output;
  CliResult predicted = run_cli("predict --onnx " + (dir / "student.onnx").string() + " --input " +
                                (dir / "my_data" / "images").string() + " --out " + (dir / "preds").string());
  ASSERT_EQ(predicted.code, 0) << predicted.output;
  for (int i = 0; i < 6; ++i) {
    const cv::Mat ids = cv::imread((dir / "preds" / fmt::format("{:06d}.png", i)).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(ids.empty()) << i;
    EXPECT_EQ(ids.size(), cv::Size(96, 64));
  }
}

}  // namespace
}  // namespace segtransfer
