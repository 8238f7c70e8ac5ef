// `segtransfer train` killed with SIGKILL at random moments (a crash, an OOM kill,
// a pre-empted job) and resumed each time: the run loses at most the iterations
// since its last checkpoint, never reads a partial file, and ends with the same
// weights as a run that was never interrupted (CPU, fixed seed).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <thread>

#include "core/atomic_file.h"
#include "models/model.h"
#include "engine/checkpoint.h"
#include "test_util.h"

namespace segtransfer {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int kIterations = 120, kCheckpointEvery = 10;

std::vector<std::string> train_args(const fs::path& config, const fs::path& out) {
  return {SEGTRANSFER_CLI_PATH, "train", "-c", config.string(), "-o", out.string(), "--resume"};
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// Waits until the run's metrics log holds a training line at or past `iteration`; false
// if the process ended first or 60 s passed.
bool wait_for_logged_iteration(const fs::path& metrics, int64_t iteration, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(metrics);
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && !j.contains("eval") && j.value("iter", int64_t{0}) >= iteration) return true;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != 0) return false;  // ended (status reaped: wait_for returns at once)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<std::pair<std::string, torch::Tensor>> weights_of(const fs::path& file) {
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
  load_model_weights(file.string(), *model);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value().clone());
  for (const auto& item : model->named_buffers()) out.emplace_back(item.key(), item.value().clone());
  return out;
}

TEST(TrainKill, KilledAtRandomAndResumedEndsWithTheUninterruptedWeights) {
  TempDir dir;
  testing::write_tiny_gta5(dir / "gta", 8);
  const fs::path config = dir / "c.yaml";
  write_text_atomically(config, fmt::format(R"(method: source_only
model: {{name: lraspp_mobilenet_v3_small, num_classes: 19}}
data:
  source: {{type: gta5, root: {}}}
  augment: {{crop: [40, 24], scale_range: [0.8, 1.2], hflip: 0.5}}
optim: {{type: adamw, lr: 1.0e-3, warmup_iters: 5}}
train: {{iterations: {}, batch_size: 2, checkpoint_every: {}, log_every: 5, threads: 1, workers: 1, seed: 3}}
)",
                                            (dir / "gta").string(), kIterations, kCheckpointEvery));
  ASSERT_EQ(wait_for(testing::spawn_logged(train_args(config, dir / "reference"), dir / "reference.log")), 0)
      << read_text_file(dir / "reference.log");

  // Kill four times at a random moment of observed progress (the metrics log past a random
  // iteration, then a random offset), resuming each time: wall-clock delays would depend on
  // the machine's speed (a fast one finishes before the second kill).
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> offset_ms(0, 300);
  const fs::path run = dir / "killed";
  int kills = 0;
  for (int round = 0; round < 4; ++round) {
    const int64_t target = std::uniform_int_distribution<int64_t>(round * 25 + 5, round * 25 + 24)(rng);
    const pid_t pid = testing::spawn_logged(train_args(config, run), dir / "killed.log");
    const bool reached = wait_for_logged_iteration(run / "metrics.jsonl", target, pid);
    if (reached) std::this_thread::sleep_for(std::chrono::milliseconds(offset_ms(rng)));
    // Only a kill of a process that is still running counts.
    if (reached && waitpid(pid, nullptr, WNOHANG) == 0 && kill(pid, SIGKILL) == 0) ++kills;
    wait_for(pid);
    if (fs::exists(run / "model.pt")) break;  // it finished before the kill
  }
  ASSERT_EQ(wait_for(testing::spawn_logged(train_args(config, run), dir / "killed.log")), 0)
      << read_text_file(dir / "killed.log");
  EXPECT_GE(kills, 3);

  // Every resume started from a checkpoint iteration: at most kCheckpointEvery - 1 iterations lost per kill.
  const std::string log = read_text_file(dir / "killed.log");
  const std::regex resumed(R"(resumed from \S+ at iteration (\d+))");
  int resumes = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), resumed); it != std::sregex_iterator(); ++it) {
    ++resumes;
    EXPECT_EQ(std::stoi((*it)[1]) % kCheckpointEvery, 0) << (*it)[0];
  }
  EXPECT_GE(resumes, 1) << log;
  // What a killed write left (<file>.tmp.<pid>) was never read, and the next start cleared it away.
  for (const auto& e : fs::directory_iterator(run))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << "left over: " << e.path();

  const auto expected = weights_of(dir / "reference" / "model.pt"), got = weights_of(run / "model.pt");
  ASSERT_EQ(expected.size(), got.size());
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_TRUE(torch::equal(expected[i].second, got[i].second)) << expected[i].first;

  // The metrics log reads as one run: iterations strictly increasing, none twice.
  std::ifstream metrics(run / "metrics.jsonl");
  int64_t last = 0;
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("eval")) continue;
    EXPECT_GT(j["iter"].get<int64_t>(), last) << line;
    last = j["iter"].get<int64_t>();
  }
  EXPECT_EQ(last, kIterations);
}

}  // namespace
}  // namespace segtransfer
