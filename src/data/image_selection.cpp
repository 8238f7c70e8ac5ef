#include "data/image_selection.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <random>

#include "core/error.h"
#include "data/dataset.h"

namespace segtransfer {

cv::Mat image_embedding(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3) throw Error("image_embedding: expected a BGR 8-bit image");
  cv::Mat small, lab, gray, gx, gy, magnitude, angle;
  cv::resize(bgr, small, cv::Size(64, 48), 0, 0, cv::INTER_AREA);
  cv::cvtColor(small, lab, cv::COLOR_BGR2Lab);
  std::vector<float> feature(64 + 4 * 8, 0.f);
  for (int y = 0; y < lab.rows; ++y)
    for (int x = 0; x < lab.cols; ++x) {
      const cv::Vec3b p = lab.at<cv::Vec3b>(y, x);
      feature[(p[0] / 64) * 16 + (p[1] / 64) * 4 + p[2] / 64] += 1.f;
    }
  cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
  cv::Sobel(gray, gx, CV_32F, 1, 0);
  cv::Sobel(gray, gy, CV_32F, 0, 1);
  cv::cartToPolar(gx, gy, magnitude, angle);  // angle in radians, [0, 2π)
  for (int y = 0; y < gray.rows; ++y)
    for (int x = 0; x < gray.cols; ++x) {
      const int cell = (y * 2 / gray.rows) * 2 + x * 2 / gray.cols;
      const int bin = std::min(7, static_cast<int>(angle.at<float>(y, x) / (2 * CV_PI) * 8));
      feature[64 + cell * 8 + bin] += magnitude.at<float>(y, x);
    }
  auto normalise = [&](size_t from, size_t to) {
    const float sum = std::accumulate(feature.begin() + from, feature.begin() + to, 0.f);
    if (sum > 0)
      for (size_t i = from; i < to; ++i) feature[i] /= sum;
  };
  normalise(0, 64);
  normalise(64, feature.size());
  cv::Mat row(1, static_cast<int>(feature.size()), CV_32F, feature.data());
  cv::Mat out;
  cv::normalize(row, out, 1.0, 0.0, cv::NORM_L2);
  return out;
}

cv::Mat embed_dataset(const SegDataset& dataset) {
  std::vector<cv::Mat> rows(dataset.size());
  cv::parallel_for_(cv::Range(0, static_cast<int>(dataset.size())), [&](const cv::Range& range) {
    for (int i = range.start; i < range.end; ++i) rows[i] = image_embedding(dataset.read_image(i));
  });
  cv::Mat all;
  cv::vconcat(rows, all);
  return all;
}

std::vector<int64_t> select_images(const cv::Mat& embeddings, int64_t count, SelectionMethod method, uint64_t seed) {
  const int64_t n = embeddings.rows;
  if (count < 1 || count > n) throw Error(fmt::format("cannot select {} of {} images", count, n));
  std::mt19937_64 rng(seed);
  std::vector<int64_t> chosen;
  if (method == SelectionMethod::kRandom) {
    std::vector<int64_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    chosen.assign(all.begin(), all.begin() + count);
  } else {
    // distance[i]: from row i to the nearest chosen row; a chosen row is at 0 and is never taken again.
    std::vector<double> distance(n, std::numeric_limits<double>::infinity());
    int64_t next = std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
    for (int64_t k = 0; k < count; ++k) {
      chosen.push_back(next);
      const cv::Mat centre = embeddings.row(static_cast<int>(next));
      for (int64_t i = 0; i < n; ++i)
        distance[i] = std::min(distance[i], cv::norm(embeddings.row(static_cast<int>(i)), centre, cv::NORM_L2));
      distance[next] = -1;
      next = std::max_element(distance.begin(), distance.end()) - distance.begin();
    }
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

std::pair<double, double> coverage_distances(const cv::Mat& embeddings, const std::vector<int64_t>& chosen) {
  double largest = 0, sum = 0;
  for (int i = 0; i < embeddings.rows; ++i) {
    double nearest = std::numeric_limits<double>::infinity();
    for (const int64_t c : chosen)
      nearest = std::min(nearest, cv::norm(embeddings.row(i), embeddings.row(static_cast<int>(c)), cv::NORM_L2));
    largest = std::max(largest, nearest);
    sum += nearest;
  }
  return {largest, embeddings.rows ? sum / embeddings.rows : 0.0};
}

}  // namespace segtransfer
