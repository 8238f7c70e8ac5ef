// `segtransfer query` against a black box that misbehaves the way real APIs do,
// under load (8 requests in flight, 300 images): slow answers, 500s and 429s,
// connections closed mid-body, malformed arrays. Every good image must end up
// stored exactly once and correctly; every malformed one rejected and named.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "teachers/fake_black_box.h"
#include "teachers/http_teacher.h"
#include "teachers/npy.h"
#include "teachers/query.h"
#include "test_util.h"

namespace segtransfer {
namespace {

namespace fs = std::filesystem;
using testing::FakeBlackBox;
using testing::TempDir;

constexpr int kImages = 300, kClasses = 5;

int index_of(const std::string& stem) { return std::stoi(stem.substr(3)); }  // "img0042" -> 42
int class_of(int index) { return index % kClasses; }
bool malformed(int index) { return index % 23 == 7; }  // 13 images

std::string good_answer(int index, int rows, int cols) {
  auto probs = torch::full({kClasses, rows, cols}, 0.1f / (kClasses - 1));
  probs[class_of(index)].fill_(0.9f);
  return encode_npy(probs);
}

// What goes wrong with image i's k-th request (k from 1).
std::string fault_of(int index, int attempt) {
  if (malformed(index)) return "malformed";
  switch (index % 6) {
    case 1:
      return attempt == 1 ? "500" : "";
    case 2:
      return attempt <= 2 ? "truncated" : "";
    case 3:
      return attempt == 1 ? "429" : "";
    case 4:
      return "slow";
    default:
      return "";
  }
}

TEST(QueryUnderLoad, FaultyBlackBoxAtConcurrency8StoresEveryGoodImageOnceAndNamesTheBadOnes) {
  TempDir dir;
  fs::create_directories(dir / "data" / "images");
  for (int i = 0; i < kImages; ++i)
    cv::imwrite((dir / "data" / "images" / fmt::format("img{:04d}.png", i)).string(),
                cv::Mat(6, 8, CV_8UC3, cv::Scalar(i % 256, i / 256, 0)));
  DatasetSpec spec;
  spec.type = "folder";
  spec.root = (dir / "data").string();
  spec.labels = false;
  spec.label_space = "camvid11";
  auto images = open_dataset(spec);

  std::mutex mutex;
  std::map<std::string, int> attempts, good_answers;
  std::atomic<int> in_flight{0}, most_in_flight{0};
  FakeBlackBox box([&](const httplib::Request& req, httplib::Response& res, int64_t) {
    const int now = ++in_flight;
    for (int seen = most_in_flight.load(); now > seen && !most_in_flight.compare_exchange_weak(seen, now);) {
    }
    const std::string stem = req.get_header_value("X-Image-Stem");
    const cv::Mat image = cv::imdecode(std::vector<uchar>(req.body.begin(), req.body.end()), cv::IMREAD_COLOR);
    const int index = image.at<cv::Vec3b>(0, 0)[0] + 256 * image.at<cv::Vec3b>(0, 0)[1];
    EXPECT_EQ(index, index_of(stem));  // the image sent is the one named
    int attempt;
    {
      std::lock_guard<std::mutex> lock(mutex);
      attempt = ++attempts[stem];
    }
    const std::string fault = fault_of(index, attempt);
    if (fault == "500" || fault == "429") {
      res.status = std::stoi(fault);
    } else if (fault == "truncated") {
      auto bytes = std::make_shared<std::string>(good_answer(index, image.rows, image.cols));
      res.set_content_provider(bytes->size(), "application/octet-stream",
                               [bytes](size_t, size_t, httplib::DataSink& sink) {
                                 sink.write(bytes->data(), bytes->size() / 3);
                                 return false;  // the connection closes mid-body
                               });
    } else if (fault == "malformed") {
      // Three kinds, in turn: not an array, the wrong number of classes, NaN.
      const int kind = index % 3;
      if (kind == 0) res.set_content("{\"error\": \"model overloaded\"}", "application/octet-stream");
      if (kind == 1) res.set_content(encode_npy(torch::full({kClasses + 2, 3, 4}, 0.1f)), "application/octet-stream");
      if (kind == 2) res.set_content(encode_npy(torch::full({kClasses, 3, 4}, NAN)), "application/octet-stream");
    } else {
      if (fault == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(30));
      res.set_content(good_answer(index, image.rows, image.cols), "application/octet-stream");
      std::lock_guard<std::mutex> lock(mutex);
      ++good_answers[stem];
    }
    --in_flight;
  });

  TeacherSpec teacher_spec;
  teacher_spec.type = "http";
  teacher_spec.url = box.url();
  teacher_spec.concurrency = 8;
  teacher_spec.timeout_s = 5;
  teacher_spec.retries = 3;
  teacher_spec.backoff_ms = 2;
  HttpTeacher teacher(teacher_spec, AnswerFormat{"probabilities", kClasses});
  const auto store = PredictionStore::open_for_writing((dir / "store").string(), {2, kClasses, teacher.describe()});
  const QueryReport report = run_query(teacher, *images, store);

  std::set<std::string> bad;
  for (int i = 0; i < kImages; ++i)
    if (malformed(i)) bad.insert(fmt::format("img{:04d}", i));
  EXPECT_EQ(report.images, kImages);
  EXPECT_EQ(report.stored, kImages - static_cast<int64_t>(bad.size()));
  ASSERT_EQ(report.failures.size(), bad.size());
  for (const std::string& failure : report.failures) {
    const std::string stem = failure.substr(0, failure.find(':'));
    EXPECT_TRUE(bad.count(stem)) << failure;
  }
  EXPECT_GE(most_in_flight.load(), 4);  // the load was concurrent
  for (int i = 0; i < kImages; ++i) {
    const std::string stem = fmt::format("img{:04d}", i);
    if (malformed(i)) {
      EXPECT_FALSE(store.has_valid_entry(stem)) << stem;
      continue;
    }
    EXPECT_EQ(good_answers[stem], 1) << stem;  // answered exactly once: no request after success
    ASSERT_TRUE(store.has_valid_entry(stem)) << stem;
    const StoredPrediction p = store.read(stem);
    EXPECT_EQ(p.classes.at<uint8_t>(0, 0), class_of(i)) << stem;  // the right answer for the right image
  }
  // A second query asks only the rejected images again.
  const int64_t before = box.seen();
  const QueryReport again = run_query(teacher, *images, store);
  EXPECT_EQ(again.skipped, kImages - static_cast<int64_t>(bad.size()));
  EXPECT_EQ(again.failures.size(), bad.size());
  EXPECT_EQ(box.seen() - before, static_cast<int64_t>(bad.size()));  // malformed answers are not retried
}

}  // namespace
}  // namespace segtransfer
