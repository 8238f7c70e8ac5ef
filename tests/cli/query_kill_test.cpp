// `segtransfer query` killed mid-run (SIGKILL, as a crash or a pre-empted job
// ends) and started again: the second run asks only what the first did not
// store, and every entry in the store verifies. Also: the query sharded over two ranks.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "core/atomic_file.h"
#include "teachers/npy.h"
#include "teachers/prediction_store.h"
#include "test_util.h"

extern char** environ;

namespace segtransfer {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int kImages = 24, kClasses = 11, kConcurrency = 2;

// The black box: class (first pixel value % 11) everywhere, answered after 40 ms so
// that the kill lands in the middle of the query. Counts the asks per image.
class SlowBlackBox {
 public:
  SlowBlackBox() {
    server_.Post("/predict", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++asked_[req.get_header_value("X-Image-Stem")];
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
      const cv::Mat image = cv::imdecode(std::vector<uchar>(req.body.begin(), req.body.end()), cv::IMREAD_COLOR);
      auto probs = torch::full({kClasses, image.rows, image.cols}, 0.01f);
      probs[image.at<cv::Vec3b>(0, 0)[0] % kClasses].fill_(0.9f);
      res.set_content(encode_npy(probs), "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~SlowBlackBox() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/predict"; }
  std::map<std::string, int> asked() {
    std::lock_guard<std::mutex> lock(mutex_);
    return asked_;
  }

 private:
  httplib::Server server_;
  std::mutex mutex_;
  std::map<std::string, int> asked_;
  int port_ = 0;
  std::thread thread_;
};

pid_t spawn_query(const fs::path& config, const fs::path& log) {
  const std::string cli = SEGTRANSFER_CLI_PATH, config_path = config.string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv{const_cast<char*>(cli.c_str()), const_cast<char*>("query"), const_cast<char*>("-c"),
                          const_cast<char*>(config_path.c_str()), nullptr};
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, cli.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int entries_in(const fs::path& store) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(store))
    if (e.path().extension() == ".topk") ++n;
  return n;
}

// kImages target images (image i's first pixel is i) and a query config asking `url`.
void write_query_fixture(const fs::path& dir, const std::string& url) {
  fs::create_directories(dir / "target" / "images");
  for (int i = 0; i < kImages; ++i)
    cv::imwrite((dir / "target" / "images" / fmt::format("im{:02d}.png", i)).string(),
                cv::Mat(12, 16, CV_8UC3, cv::Scalar(i, 0, 0)));
  write_text_atomically(dir / "query.yaml",
                        fmt::format("data: {{target: {{type: folder, root: {}, label_space: camvid11}}}}\n"
                                    "model: {{num_classes: {}}}\n"
                                    "teacher: {{type: http, url: '{}', concurrency: {}, timeout_s: 5}}\n"
                                    "store: {{path: {}, top_k: 2}}\ntrain: {{threads: 1}}\n",
                                    (dir / "target").string(), kClasses, url, kConcurrency, (dir / "store").string()));
}

TEST(QueryKill, AKilledQueryResumesAskingOnlyWhatIsMissing) {
  TempDir dir;
  SlowBlackBox box;
  write_query_fixture(dir.path(), box.url());

  const pid_t first = spawn_query(dir / "query.yaml", dir / "first.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((!fs::exists(dir / "store") || entries_in(dir / "store") < kImages / 3) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(first, SIGKILL);
  int status = 0;
  waitpid(first, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << read_text_file(dir / "first.log");
  const int stored_by_first = entries_in(dir / "store");
  ASSERT_GE(stored_by_first, kImages / 3);
  ASSERT_LT(stored_by_first, kImages) << "the kill came too late to test anything";
  const auto asked_by_first = box.asked();

  const pid_t second = spawn_query(dir / "query.yaml", dir / "second.log");
  waitpid(second, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text_file(dir / "second.log");

  // Every image was asked; again only if its answer was in flight when the first run died.
  const auto asked = box.asked();
  ASSERT_EQ(asked.size(), static_cast<size_t>(kImages));
  int asked_twice = 0;
  for (const auto& [stem, n] : asked) {
    EXPECT_LE(n, 2) << stem;
    if (n == 2) {
      ++asked_twice;
      EXPECT_EQ(asked_by_first.count(stem), 1u) << stem;
    }
  }
  EXPECT_LE(asked_twice, kConcurrency);
  EXPECT_LE(static_cast<int>(asked_by_first.size()) - stored_by_first, kConcurrency);

  // Every entry verifies and holds its image's answer; nothing temporary is left.
  const auto store = PredictionStore::open((dir / "store").string());
  for (int i = 0; i < kImages; ++i) {
    const std::string stem = fmt::format("im{:02d}", i);
    ASSERT_TRUE(store.has_valid_entry(stem)) << stem;
    EXPECT_EQ(store.read(stem).classes.at<cv::Vec2b>(0, 0)[0], i % kClasses) << stem;
  }
  for (const auto& e : fs::directory_iterator(dir / "store"))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

// Two processes started as a launcher starts them (RANK, WORLD_SIZE, MASTER_*):
// together they ask for every image exactly once, and rank 0 reports the totals.
TEST(QueryShards, TwoRanksAskEveryImageOnce) {
  TempDir dir;
  SlowBlackBox box;
  write_query_fixture(dir.path(), box.url());
  const std::string port = std::to_string(29900 + ::getpid() % 90);
  std::vector<pid_t> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    for (const auto& [k, v] : std::map<std::string, std::string>{{"RANK", std::to_string(rank)},
                                                                 {"WORLD_SIZE", "2"},
                                                                 {"LOCAL_RANK", std::to_string(rank)},
                                                                 {"LOCAL_WORLD_SIZE", "2"},
                                                                 {"MASTER_ADDR", "127.0.0.1"},
                                                                 {"MASTER_PORT", port}})
      ::setenv(k.c_str(), v.c_str(), 1);
    ranks.push_back(spawn_query(dir / "query.yaml", dir / fmt::format("rank{}.log", rank)));
  }
  for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
    ::unsetenv(k);
  for (int rank = 0; rank < 2; ++rank) {
    int status = 0;
    waitpid(ranks[rank], &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text_file(dir / fmt::format("rank{}.log", rank));
  }
  const auto asked = box.asked();
  ASSERT_EQ(asked.size(), static_cast<size_t>(kImages));
  for (const auto& [stem, n] : asked) EXPECT_EQ(n, 1) << stem;
  const std::string log0 = read_text_file(dir / "rank0.log");
  EXPECT_NE(log0.find(fmt::format("query: {} images: 0 already stored, {} asked and stored", kImages, kImages)),
            std::string::npos)
      << log0;
  const auto store = PredictionStore::open((dir / "store").string());
  for (int i = 0; i < kImages; ++i) EXPECT_TRUE(store.has_valid_entry(fmt::format("im{:02d}", i)));
}

}  // namespace
}  // namespace segtransfer
