#include "teachers/http_teacher.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "teachers/base64.h"
#include "teachers/fake_black_box.h"
#include "teachers/npy.h"
#include "test_util.h"

namespace segtransfer {
namespace {

using testing::contains;
using testing::error_of;
using testing::FakeBlackBox;

constexpr int kClasses = 3;
const cv::Size kImage(8, 6);  // (w, h)

// An image whose every pixel is `value`: the fake black box reads it back.
cv::Mat flat_image(int value) { return cv::Mat(kImage, CV_8UC3, cv::Scalar(value, value, value)); }

// The fake black box's answer for a PNG: class 0 with probability value/255, the
// rest shared by classes 1 and 2, at half the image's resolution.
std::string answer_for(const std::string& png) {
  const cv::Mat image = cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_COLOR);
  if (image.empty()) return "";
  const float p = static_cast<float>(image.at<cv::Vec3b>(0, 0)[0]) / 255.f;
  torch::Tensor probs = torch::empty({kClasses, image.rows / 2, image.cols / 2});
  probs[0].fill_(p);
  probs[1].fill_((1 - p) / 2);
  probs[2].fill_((1 - p) / 2);
  return encode_npy(probs);
}

void answer(const httplib::Request& req, httplib::Response& res) {
  res.set_content(answer_for(req.body), "application/octet-stream");
}

TeacherSpec spec_for(const std::string& url, int retries = 3, int64_t budget = 0) {
  TeacherSpec spec;
  spec.type = "http";
  spec.url = url;
  spec.concurrency = 4;
  spec.timeout_s = 1;
  spec.retries = retries;
  spec.backoff_ms = 5;
  spec.budget = budget;
  return spec;
}

HttpTeacher make(const TeacherSpec& spec, int classes = kClasses) {
  return HttpTeacher(spec, AnswerFormat{"probabilities", classes});
}

TEST(HttpTeacherTest, DecodesTheAnswerAtTheImageSize) {
  FakeBlackBox box([](const httplib::Request& req, httplib::Response& res, int64_t) {
    EXPECT_EQ(req.get_header_value("X-Image-Stem"), "aachen_000001");
    answer(req, res);
  });
  HttpTeacher teacher = make(spec_for(box.url()));
  const TeacherAnswer a = teacher.ask(flat_image(51), "aachen_000001");
  ASSERT_TRUE(a.has_probabilities());
  EXPECT_EQ(a.probabilities.sizes().vec(), (std::vector<int64_t>{kClasses, kImage.height, kImage.width}));
  EXPECT_TRUE(torch::allclose(a.probabilities[0], torch::full({kImage.height, kImage.width}, 0.2f)));
  EXPECT_TRUE(torch::allclose(a.probabilities[1], torch::full({kImage.height, kImage.width}, 0.4f)));
  EXPECT_EQ(teacher.requests(), 1);
  EXPECT_EQ(box.seen(), 1);
  EXPECT_EQ(teacher.max_concurrency(), 4);
  EXPECT_TRUE(contains(teacher.describe(), box.url()));
}

TEST(HttpTeacherTest, RetriesErrorsTimeoutsAndTruncatedBodiesFromSeveralThreads) {
  constexpr int kImages = 12;
  std::mutex mutex;
  std::map<std::string, int> attempts;  // per stem
  FakeBlackBox box([&](const httplib::Request& req, httplib::Response& res, int64_t) {
    const std::string stem = req.get_header_value("X-Image-Stem");
    int attempt = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      attempt = ++attempts[stem];
    }
    const int mode = std::stoi(stem.substr(4)) % 4;
    if (attempt == 1 && mode == 1) {
      res.status = 500;
    } else if (attempt == 1 && mode == 2 && stem == "img_2") {
      std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // past the 1 s timeout
      answer(req, res);
    } else if (attempt <= 2 && mode == 3) {
      // Content-Length promises the whole array; the connection closes after half of it.
      auto bytes = std::make_shared<std::string>(answer_for(req.body));
      res.set_content_provider(bytes->size(), "application/octet-stream",
                               [bytes](size_t, size_t, httplib::DataSink& sink) {
                                 sink.write(bytes->data(), bytes->size() / 2);
                                 return false;
                               });
    } else if (attempt == 1 && mode == 2) {
      res.status = 429;
    } else {
      answer(req, res);
    }
  });
  HttpTeacher teacher = make(spec_for(box.url()));
  std::vector<TeacherAnswer> answers(kImages);
  std::vector<std::string> errors(kImages);
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = next++; i < kImages; i = next++) {
        try {
          answers[i] = teacher.ask(flat_image(10 * i), fmt::format("img_{}", i));
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kImages; ++i) {
    ASSERT_EQ(errors[i], "") << "image " << i;
    ASSERT_TRUE(answers[i].has_probabilities()) << "image " << i;
    EXPECT_NEAR(answers[i].probabilities[0].mean().item<float>(), 10 * i / 255.f, 1e-5) << "image " << i;
  }
  // 12 first attempts, 3 retried once (500), 3 once (timeout, 429), 3 twice (truncated).
  EXPECT_EQ(box.seen(), kImages + 3 + 3 + 2 * 3);
  EXPECT_EQ(teacher.requests(), box.seen());
}

TEST(HttpTeacherTest, BudgetCountsEveryRequestAndStopsTheNextOne) {
  FakeBlackBox box([](const httplib::Request& req, httplib::Response& res, int64_t index) {
    if (index == 0) {
      res.status = 503;
    } else {
      answer(req, res);
    }
  });
  HttpTeacher teacher = make(spec_for(box.url(), 3, /*budget=*/3));
  teacher.ask(flat_image(0), "a");  // two requests: 503, then the answer
  teacher.ask(flat_image(0), "b");
  const std::string error = error_of([&] { teacher.ask(flat_image(0), "c"); });
  EXPECT_TRUE(contains(error, "budget of 3")) << error;
  EXPECT_TRUE(contains(error, "image c")) << error;
  EXPECT_EQ(box.seen(), 3);
  EXPECT_EQ(teacher.requests(), 3);
  EXPECT_THROW(teacher.ask(flat_image(0), "d"), TeacherUnavailable);
  EXPECT_EQ(box.seen(), 3);
}

TEST(HttpTeacherTest, RunningOutOfRetriesNamesTheStemAndTheLastCause) {
  FakeBlackBox box([](const httplib::Request&, httplib::Response& res, int64_t) {
    res.status = 500;
    res.set_content("model server overloaded", "text/plain");
  });
  HttpTeacher teacher = make(spec_for(box.url(), /*retries=*/2));
  try {
    teacher.ask(flat_image(0), "frankfurt_000007");
    ADD_FAILURE() << "no error";
  } catch (const TeacherUnavailable& e) {
    const std::string error = e.what();
    EXPECT_TRUE(contains(error, "frankfurt_000007")) << error;
    EXPECT_TRUE(contains(error, "3 attempts")) << error;
    EXPECT_TRUE(contains(error, "HTTP 500: model server overloaded")) << error;
    EXPECT_TRUE(contains(error, box.url())) << error;
  }
  EXPECT_EQ(box.seen(), 3);
  EXPECT_EQ(teacher.requests(), 3);
}

TEST(HttpTeacherTest, ConnectionRefusedIsRetriedThenFails) {
  std::string url;
  {
    FakeBlackBox gone(nullptr);  // its port has no listener any more
    url = gone.url();
  }
  HttpTeacher teacher = make(spec_for(url, /*retries=*/1));
  const std::string error = error_of([&] { teacher.ask(flat_image(0), "x"); });
  EXPECT_TRUE(contains(error, "2 attempts")) << error;
  EXPECT_TRUE(contains(error, "cannot connect")) << error;
  EXPECT_EQ(teacher.requests(), 2);
}

TEST(HttpTeacherTest, ClientErrorsFailWithoutRetry) {
  FakeBlackBox box([](const httplib::Request& req, httplib::Response& res, int64_t) {
    res.status = req.get_header_value("X-Image-Stem") == "too_big" ? 413 : 404;
  });
  HttpTeacher teacher = make(spec_for(box.url()));
  const std::string error = error_of([&] { teacher.ask(flat_image(0), "too_big"); });
  EXPECT_TRUE(contains(error, "too_big")) << error;
  EXPECT_TRUE(contains(error, "HTTP 413")) << error;
  EXPECT_EQ(box.seen(), 1);
  // A 404 would be the same for every image: the query stops.
  EXPECT_THROW(teacher.ask(flat_image(0), "y"), TeacherUnavailable);
  EXPECT_EQ(box.seen(), 2);
  EXPECT_EQ(teacher.requests(), 2);
}

TEST(HttpTeacherTest, MalformedAnswersFailTheImageWithoutRetry) {
  FakeBlackBox box([](const httplib::Request& req, httplib::Response& res, int64_t) {
    if (req.get_header_value("X-Image-Stem") == "garbage") {
      res.set_content("<html>hello</html>", "text/html");
    } else {
      res.set_content(encode_npy(torch::full({kClasses + 1, 3, 4}, 0.25f)), "application/octet-stream");
    }
  });
  HttpTeacher teacher = make(spec_for(box.url()));
  std::string error = error_of([&] { teacher.ask(flat_image(0), "garbage"); });
  EXPECT_TRUE(contains(error, "garbage")) << error;
  EXPECT_TRUE(contains(error, "magic")) << error;
  EXPECT_EQ(box.seen(), 1);
  try {
    teacher.ask(flat_image(0), "four_classes");
    ADD_FAILURE() << "no error";
  } catch (const TeacherUnavailable& e) {
    ADD_FAILURE() << "a malformed answer must fail its image only: " << e.what();
  } catch (const Error& e) {
    error = e.what();
  }
  EXPECT_TRUE(contains(error, "four_classes")) << error;
  EXPECT_TRUE(contains(error, "4 classes")) << error;
  EXPECT_EQ(box.seen(), 2);
  EXPECT_EQ(teacher.requests(), 2);
}

TEST(HttpTeacherTest, RejectsMalformedUrlsAndSettings) {
  for (const std::string url : {"", "127.0.0.1:8080/predict", "ftp://host/x", "http://", "http://host:99999/x"})
    EXPECT_TRUE(contains(error_of([&] { make(spec_for(url)); }), "teacher.url")) << url;
  EXPECT_TRUE(contains(make(spec_for("http://localhost")).describe(), "http://localhost/"));
  TeacherSpec spec = spec_for("http://localhost:8080/v1/segment?model=x");
  EXPECT_TRUE(contains(make(spec).describe(), "http://localhost:8080/v1/segment?model=x"));
  spec.concurrency = 0;
  EXPECT_TRUE(contains(error_of([&] { make(spec); }), "teacher.concurrency"));
}

// A vendor API: the image base64-encoded in a JSON template, an API key from the
// environment in a header, the answer inside a JSON document (base64 .npy bytes).
TEST(HttpTeacherTest, JsonRequestAndAnswerWithAKeyFromTheEnvironment) {
  setenv("SEGTRANSFER_TEST_VENDOR_KEY", "sk-test-91ac", 1);
  FakeBlackBox box(
      [](const httplib::Request& req, httplib::Response& res, int64_t) {
        EXPECT_EQ(req.get_header_value("Authorization"), "Bearer sk-test-91ac");
        const auto body = nlohmann::json::parse(req.body);
        EXPECT_EQ(body["id"], "frame \"7\"");
        const std::string png = base64_decode(body["inputs"]["image"].get<std::string>(), "request");
        res.set_content(nlohmann::json{{"result", {{"scores", base64_encode(answer_for(png))}}}}.dump(),
                        "application/json");
      },
      /*json=*/true);
  TeacherSpec spec = spec_for(box.url());
  spec.headers = {"Authorization: Bearer ${SEGTRANSFER_TEST_VENDOR_KEY}"};
  spec.request = "json";
  spec.request_template = R"({"inputs": {"image": "${IMAGE_BASE64}"}, "id": "${STEM}"})";
  spec.answer = "json";
  spec.answer_field = "/result/scores";
  HttpTeacher teacher = make(spec);
  const TeacherAnswer a = teacher.ask(flat_image(51), "frame \"7\"");
  ASSERT_TRUE(a.has_probabilities());
  EXPECT_TRUE(torch::allclose(a.probabilities[0], torch::full({kImage.height, kImage.width}, 0.2f)));
  EXPECT_FALSE(contains(teacher.describe(), "sk-test-91ac")) << teacher.describe();

  spec.headers = {"Authorization: Bearer ${SEGTRANSFER_TEST_UNSET_KEY}"};
  unsetenv("SEGTRANSFER_TEST_UNSET_KEY");
  const std::string error = error_of([&] { make(spec); });
  EXPECT_TRUE(contains(error, "SEGTRANSFER_TEST_UNSET_KEY is not set")) << error;
}

// A JSON answer as a nested array of class ids (a label-only vendor), and a missing field.
TEST(HttpTeacherTest, JsonAnswerAsAnArrayOfClassIds) {
  FakeBlackBox box([](const httplib::Request&, httplib::Response& res, int64_t index) {
    nlohmann::json ids = nlohmann::json::array();
    for (int y = 0; y < kImage.height; ++y) ids.push_back(std::vector<int>(kImage.width, y < 2 ? 2 : 1));
    res.set_content(index == 0 ? nlohmann::json{{"mask", ids}}.dump() : std::string(R"({"other": 1})"),
                    "application/json");
  });
  TeacherSpec spec = spec_for(box.url());
  spec.answer = "json";
  spec.answer_field = "/mask";
  HttpTeacher teacher(spec, AnswerFormat{"labels", kClasses});
  const TeacherAnswer a = teacher.ask(flat_image(10), "x");
  ASSERT_FALSE(a.labels.empty());
  EXPECT_EQ(a.labels.at<uint8_t>(0, 0), 2);
  EXPECT_EQ(a.labels.at<uint8_t>(5, 7), 1);
  EXPECT_TRUE(contains(error_of([&] { teacher.ask(flat_image(10), "y"); }), "/mask"));
}

// 429 with Retry-After: 1 waits a second before the next attempt, not the 5 ms backoff.
TEST(HttpTeacherTest, RetryAfterIsHonoured) {
  FakeBlackBox box([](const httplib::Request& req, httplib::Response& res, int64_t index) {
    if (index == 0) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      return;
    }
    answer(req, res);
  });
  HttpTeacher teacher = make(spec_for(box.url()));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(teacher.ask(flat_image(51), "a").has_probabilities());
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0.95);
  EXPECT_EQ(teacher.requests(), 2);
}

}  // namespace
}  // namespace segtransfer
