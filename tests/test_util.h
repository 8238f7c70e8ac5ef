// Helpers shared by the tests: a self-removing temporary folder, error capture, tensor shapes.
#pragma once
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/batch_norm.h"

extern char** environ;

namespace segtransfer::testing {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("segtransfer_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

// The message of the segtransfer::Error that f() throws (a test failure if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const segtransfer::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

// The CLI run with `args` (stdout and stderr together) and its exit code.
struct CliResult {
  int code = -1;
  std::string output;
};
// A shell command line run with its stdout and stderr together, and its exit code.
inline CliResult run_shell(const std::string& command) {
  CliResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Starts `argv` (argv[0] a path) in the background with stdout and stderr appended
// to `log`; returns its pid, or -1 with a test failure.
inline pid_t spawn_logged(std::vector<std::string> argv, const std::filesystem::path& log) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    ADD_FAILURE() << "cannot start " << argv[0];
    pid = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

#ifdef SEGTRANSFER_CLI_PATH
inline CliResult run_cli(const std::string& args) { return run_shell(std::string(SEGTRANSFER_CLI_PATH) + " " + args); }
#endif

// A tiny GTA5-layout tree (images/, labels/ in Cityscapes labelIds; count <= 9),
// every pixel labelled (road / sky / car) so that a mean loss over pixels and one
// over a combined batch agree (the distributed tests rely on it).
inline void write_tiny_gta5(const std::filesystem::path& root, int count) {
  std::filesystem::create_directories(root / "images");
  std::filesystem::create_directories(root / "labels");
  for (int i = 0; i < count; ++i) {
    cv::Mat label(32, 48, CV_8UC1, cv::Scalar(7));
    label(cv::Rect(0, 0, 48, 10 + i % 5)).setTo(23);
    label(cv::Rect(8 + 3 * i, 18, 12, 8)).setTo(26);
    cv::Mat image(32, 48, CV_8UC3);
    cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(60 + 20 * i));
    image.setTo(cv::Scalar(200, 120, 60), label == 23);
    image.setTo(cv::Scalar(30, 30, 180), label == 26);
    char name[16];
    std::snprintf(name, sizeof name, "%05d.png", i + 1);
    cv::imwrite((root / "images" / name).string(), image);
    cv::imwrite((root / "labels" / name).string(), label);
  }
}

// Non-trivial BatchNorm statistics and affine parameters, so that a wrong fold (or a
// wrong export of BatchNorm) shows.
inline void randomise_batch_norm(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& module : model.modules()) {
    if (auto* bn = dynamic_cast<segtransfer::BatchNorm2dImpl*>(module.get())) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
    }
  }
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Shape of the parameter or buffer called `name` (a test failure if none).
inline std::vector<int64_t> shape_of(torch::nn::Module& m, const std::string& name) {
  auto params = m.named_parameters();
  if (const torch::Tensor* p = params.find(name)) return p->sizes().vec();
  auto buffers = m.named_buffers();
  if (const torch::Tensor* b = buffers.find(name)) return b->sizes().vec();
  ADD_FAILURE() << "no tensor named " << name;
  return {};
}

}  // namespace segtransfer::testing
