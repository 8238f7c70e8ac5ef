#include "teachers/prediction_store.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "core/atomic_file.h"
#include "methods/common/pseudo_labels.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;
using segtransfer::testing::TempDir;

namespace {

torch::Tensor random_probabilities(int64_t c, int64_t h, int64_t w, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::softmax(torch::randn({c, h, w}) * 3, 0);
}

TeacherAnswer answer_of(const torch::Tensor& p) {
  TeacherAnswer a;
  a.probabilities = p;
  return a;
}

}  // namespace

TEST(PredictionStore, RoundTripGivesTheSamePseudoLabelsAsTheFloatProbabilities) {
  TempDir dir;
  const auto store = PredictionStore::open_for_writing(dir.str(), {2, 19, "test"});
  const auto probs = random_probabilities(19, 24, 40, 1);
  store.put("img", answer_of(probs));
  const StoredPrediction p = store.read("img");
  ASSERT_EQ(p.k, 2);
  ASSERT_EQ(p.classes.size(), cv::Size(40, 24));

  auto [values, indices] = probs.topk(2, 0);
  int different_top1 = 0;
  double worst_error = 0, worst_relative = 0;
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 40; ++x) {
      const auto c = p.classes.at<cv::Vec2b>(y, x), q = p.probabilities.at<cv::Vec2b>(y, x);
      if (c[0] != indices[0][y][x].item<int64_t>()) ++different_top1;
      EXPECT_EQ(c[1], indices[1][y][x].item<int64_t>());
      worst_error = std::max(worst_error, std::abs(q[0] / 255.0 - values[0][y][x].item<double>()));
      const double rc = values[0][y][x].item<double>() - values[1][y][x].item<double>();
      worst_relative = std::max(worst_relative, std::abs((q[0] - q[1]) / 255.0 - rc));
    }
  EXPECT_EQ(different_top1, 0);
  // Stated quantisation: each probability within half a step (1/510), p1 − p2 within one step.
  EXPECT_LE(worst_error, 0.5 / 255 + 1e-6);
  EXPECT_LE(worst_relative, 1.0 / 255 + 1e-6);
}

TEST(PredictionStore, IsAtMostAnEighthOfFloat16Probabilities) {
  TempDir dir;
  const auto store = PredictionStore::open_for_writing(dir.str(), {2, 19, "test"});
  // Worst case for the compressor: independent random noise per pixel.
  store.put("noise", answer_of(random_probabilities(19, 64, 128, 2)));
  const int64_t float16_bytes = 19LL * 64 * 128 * 2;
  EXPECT_LE(store.entry_bytes("noise") * 8, float16_bytes);
}

TEST(PredictionStore, LabelOnlyAnswersKeepEveryLabelledPixel) {
  TempDir dir;
  const auto store = PredictionStore::open_for_writing(dir.str(), {2, 19, "test"});
  TeacherAnswer a;
  a.labels = cv::Mat(8, 8, CV_8UC1, cv::Scalar(3));
  a.labels.at<uint8_t>(0, 0) = 255;
  store.put("labels", a);
  const auto p = store.read("labels");
  EXPECT_TRUE(p.labels_only);
  EXPECT_EQ(p.k, 1);
  EXPECT_EQ(p.classes.at<uint8_t>(1, 1), 3);
  EXPECT_EQ(p.probabilities.at<uint8_t>(1, 1), 255);
  EXPECT_EQ(p.probabilities.at<uint8_t>(0, 0), 0);
}

TEST(PredictionStore, CorruptEntriesAreNeverReadAsValid) {
  TempDir dir;
  const auto store = PredictionStore::open_for_writing(dir.str(), {2, 19, "test"});
  store.put("a", answer_of(random_probabilities(19, 16, 16, 3)));
  const std::string bytes = read_text_file(store.entry_path("a"));
  ASSERT_TRUE(store.has_valid_entry("a"));

  // Truncated (a write cut short), one flipped payload byte, and an empty file.
  write_text_atomically(store.entry_path("t"), bytes.substr(0, bytes.size() / 2));
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  write_text_atomically(store.entry_path("f"), flipped);
  write_text_atomically(store.entry_path("e"), "");
  for (const char* stem : {"t", "f", "e"}) {
    EXPECT_FALSE(store.has_valid_entry(stem)) << stem;
    const std::string e = error_of([&] { store.read(stem); });
    EXPECT_TRUE(contains(e, "corrupt store entry") && contains(e, std::string(stem) + ".topk")) << e;
  }
  EXPECT_TRUE(contains(error_of([&] { store.read("missing"); }), "segtransfer query"));
}

TEST(PredictionStore, ReopeningWithAnotherShapeIsRefused) {
  TempDir dir;
  PredictionStore::open_for_writing(dir.str(), {2, 19, "test"});
  EXPECT_NO_THROW(PredictionStore::open_for_writing(dir.str(), {2, 19, "test"}));
  EXPECT_TRUE(contains(error_of([&] { PredictionStore::open_for_writing(dir.str(), {3, 19, "test"}); }), "top-2"));
  TempDir empty;
  EXPECT_TRUE(contains(error_of([&] { PredictionStore::open(empty.str()); }), "not a prediction store"));
}

TEST(PredictionStore, DecodedBatchMatchesTheStoredEntry) {
  const auto probs = random_probabilities(5, 4, 6, 4);
  const StoredPrediction p = encode_top_k(probs, 2);
  cv::Mat inter = p.interleaved();  // (H, W, 4)
  auto aux = torch::from_blob(inter.data, {4, 6, 4}, torch::kUInt8).permute({2, 0, 1}).unsqueeze(0).clone();
  const TopKBatch t = decode_top_k(aux);
  EXPECT_TRUE(torch::equal(t.top1()[0], probs.argmax(0)));
  EXPECT_TRUE(torch::allclose(t.probabilities[0][0], std::get<0>(probs.max(0)), 0, 0.5 / 255 + 1e-6));
}
