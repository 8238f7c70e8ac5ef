// Data-parallel training through the CLI: two processes on localhost end where
// one process on their combined batch ends, and a killed process makes the
// others fail with a clear error instead of hanging.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <thread>

#include "parallel/distributed.h"
#include "models/model.h"
#include "models/weight_import.h"
#include "test_util.h"

extern char** environ;

namespace segtransfer {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::run_cli;
using testing::TempDir;

std::string train_args(const fs::path& data, const fs::path& out, int batch, int iterations) {
  return "train --set model.name=lraspp_mobilenet_v3_small --set data.source.type=gta5 --set data.source.root=" +
         data.string() + " --set optim.type=sgd --set optim.lr=0.05 --set optim.warmup_iters=0" +
         " --set train.batch_size=" + std::to_string(batch) + " --set train.iterations=" + std::to_string(iterations) +
         " --set train.log_every=1 --set train.threads=1 --set train.workers=1" + " --set data.augment.hflip=0.5 -o " +
         out.string();
}

std::map<std::string, torch::Tensor> weights_of(const fs::path& run) {
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
  import_state_dict(*model, (run / "model.pt").string());
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model->named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : model->named_buffers()) out[b.key()] = b.value().detach().clone().to(torch::kFloat64);
  return out;
}

TEST(Distributed, TwoProcessesEndWhereOneProcessOnTheCombinedBatchEnds) {
  TempDir dir;
  testing::write_tiny_gta5(dir / "gta", 8);
  CliResult one = run_cli(train_args(dir / "gta", dir / "one", 4, 3));
  ASSERT_EQ(one.code, 0) << one.output;
  CliResult two = run_cli(train_args(dir / "gta", dir / "two", 2, 3) + " --nproc 2");
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_TRUE(testing::contains(two.output, "data-parallel: 2 processes")) << two.output;
  EXPECT_TRUE(testing::contains(two.output, "synchronised BatchNorm")) << two.output;

  const auto a = weights_of(dir / "one"), b = weights_of(dir / "two");
  const auto init = [&] {   // how far training moved the weights, to judge the tolerance against
    torch::manual_seed(0);  // as the trainer does before making the model (train.seed 0)
    return make_model("lraspp_mobilenet_v3_small", 19);
  }();
  ASSERT_EQ(a.size(), b.size());
  double worst = 0, moved = 0;
  for (const auto& [name, t] : a) {
    worst = std::max(worst, (t - b.at(name)).abs().max().item<double>());
  }
  for (const auto& p : init->named_parameters())
    moved = std::max(moved, (p.value() - a.at(p.key())).abs().max().item<double>());
  EXPECT_LT(worst, 1e-4) << "largest difference between the 1-process and 2-process weights";
  std::cout << "largest weight difference " << worst << ", largest change by training " << moved << "\n";
  EXPECT_GT(moved, 1e-3) << "training did not move the weights: the comparison would prove nothing";
}

pid_t spawn_rank(int rank, const std::string& args, const fs::path& log, const std::string& port) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& kv :
       {"RANK=" + std::to_string(rank), std::string("WORLD_SIZE=2"), std::string("MASTER_ADDR=127.0.0.1"),
        "MASTER_PORT=" + port, "LOCAL_RANK=" + std::to_string(rank), std::string("LOCAL_WORLD_SIZE=2")})
    env_strings.push_back(kv);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  // `exec`: the shell's pid becomes the trainer's, so that the kill reaches it.
  std::string shell = "/bin/sh", dash_c = "-c",
              cmd = "exec " + std::string(SEGTRANSFER_CLI_PATH) + " " + args + " > " + log.string() + " 2>&1";
  char* argv[] = {shell.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, envp.data()), 0);
  return pid;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Distributed, KilledProcessMakesTheOthersFailWithAClearError) {
  TempDir dir;
  testing::write_tiny_gta5(dir / "gta", 8);
  const std::string port = std::to_string(29700 + ::getpid() % 200);
  const std::string args = train_args(dir / "gta", dir / "run", 2, 100000) + " --set distributed.timeout_s=20";
  const pid_t rank0 = spawn_rank(0, args, dir / "rank0.log", port);
  const pid_t rank1 = spawn_rank(1, args, dir / "rank1.log", port);
  // Both are training once rank 0 has logged a step.
  const auto start = std::chrono::steady_clock::now();
  while (!testing::contains(read_file(dir / "rank0.log"), "[it ") &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(testing::contains(read_file(dir / "rank0.log"), "[it ")) << read_file(dir / "rank0.log");
  ::kill(rank1, SIGKILL);
  int status = 0;
  ::waitpid(rank1, &status, 0);

  // Rank 0 must fail on its own, well within the timeout plus a margin.
  const auto killed = std::chrono::steady_clock::now();
  pid_t done = 0;
  while ((done = ::waitpid(rank0, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() - killed < std::chrono::seconds(45))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (done == 0) {
    ::kill(rank0, SIGKILL);
    ::waitpid(rank0, &status, 0);
    FAIL() << "rank 0 still ran 45 s after rank 1 was killed:\n" << read_file(dir / "rank0.log");
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  const std::string log = read_file(dir / "rank0.log");
  EXPECT_TRUE(testing::contains(log, "error: data-parallel rank 0 of 2")) << log;
  if (const auto at = log.find("error: "); at != std::string::npos) std::cout << log.substr(at);
}

TEST(Distributed, LayoutFromEnvironmentNamesTheBadVariable) {
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "2", 1);
  EXPECT_TRUE(testing::contains(testing::error_of([] { ProcessLayout::from_environment(); }), "RANK=2"));
  ::setenv("RANK", "x", 1);
  EXPECT_TRUE(testing::contains(testing::error_of([] { ProcessLayout::from_environment(); }), "RANK='x'"));
  ::setenv("RANK", "1", 1);
  ::unsetenv("MASTER_ADDR");
  EXPECT_TRUE(testing::contains(testing::error_of([] { ProcessLayout::from_environment(); }), "MASTER_ADDR"));
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  EXPECT_FALSE(ProcessLayout::from_environment().distributed());
}

}  // namespace
}  // namespace segtransfer
