#include "data/rare_class_sampling.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/class_pixel_counts.h"
#include "data/dataset.h"

namespace segtransfer {
namespace fs = std::filesystem;

namespace {

// What the statistics depend on: the files (in order) and the label space.
std::string fingerprint(const SegDataset& dataset) {
  std::string text = dataset.label_space().name + "|" + std::to_string(dataset.label_space().num_classes());
  for (const auto& f : dataset.files()) text += "|" + f.image + ">" + f.label;
  return fmt::format("{:016x}", std::hash<std::string>{}(text));
}

}  // namespace

std::vector<double> ClassStatistics::frequencies() const {
  std::vector<double> f(num_classes, 0.0);
  double total = 0;
  for (const auto& image : pixels)
    for (int c = 0; c < num_classes; ++c) f[c] += static_cast<double>(image[c]), total += static_cast<double>(image[c]);
  if (total > 0)
    for (double& v : f) v /= total;
  return f;
}

std::string class_statistics_cache_path(const SegDataset& dataset, const std::string& cache_dir) {
  return (fs::path(cache_dir) / ("class_stats_" + fingerprint(dataset) + ".json")).string();
}

ClassStatistics class_statistics(const SegDataset& dataset, const std::string& cache) {
  if (!dataset.has_labels())
    throw Error(fmt::format("rare-class sampling needs labels: {} is unlabelled", dataset.description()));
  const std::string key = fingerprint(dataset);
  ClassStatistics stats;
  stats.num_classes = dataset.label_space().num_classes();
  if (!cache.empty() && fs::exists(cache)) {
    try {
      const auto j = nlohmann::json::parse(read_text_file(cache));
      if (j.at("fingerprint").get<std::string>() == key && j.at("num_classes").get<int>() == stats.num_classes) {
        stats.pixels = j.at("pixels").get<std::vector<std::vector<int64_t>>>();
        if (stats.pixels.size() == dataset.size()) return stats;
      }
    } catch (const nlohmann::json::exception&) {
      // unreadable or stale: counted again and rewritten below
    }
    stats.pixels.clear();
  }
  stats.pixels.reserve(dataset.size());
  for (size_t i = 0; i < dataset.size(); ++i) {
    stats.pixels.push_back(class_pixel_counts(dataset.read(i).label, stats.num_classes));
  }
  if (!cache.empty()) {
    std::error_code ec;
    fs::create_directories(fs::path(cache).parent_path(), ec);
    const nlohmann::json j = {{"fingerprint", key},
                              {"dataset", dataset.description()},
                              {"num_classes", stats.num_classes},
                              {"pixels", stats.pixels}};
    write_text_atomically(cache, j.dump() + "\n");
  }
  return stats;
}

RareClassSampler::RareClassSampler(const ClassStatistics& stats, double temperature, int64_t min_pixels) {
  if (temperature <= 0) throw Error("rare-class sampling: temperature must be > 0");
  const std::vector<double> f = stats.frequencies();
  images_of_class_.assign(stats.num_classes, {});
  for (size_t i = 0; i < stats.pixels.size(); ++i)
    for (int c = 0; c < stats.num_classes; ++c)
      if (stats.pixels[i][c] >= std::max<int64_t>(min_pixels, 1)) images_of_class_[c].push_back(i);
  // exp((1 − f) / T) for T = 0.01 overflows nothing (≤ e^100) but spans 40 orders of
  // magnitude: subtract the largest exponent first.
  double top = -1e300;
  for (int c = 0; c < stats.num_classes; ++c)
    if (!images_of_class_[c].empty() && f[c] > 0) top = std::max(top, (1 - f[c]) / temperature);
  probabilities_.assign(stats.num_classes, 0.0);
  double total = 0;
  for (int c = 0; c < stats.num_classes; ++c)
    if (!images_of_class_[c].empty() && f[c] > 0) total += probabilities_[c] = std::exp((1 - f[c]) / temperature - top);
  if (total == 0)
    throw Error(
        fmt::format("rare-class sampling: no class covers {} pixels in any image (lower min_pixels)", min_pixels));
  for (double& p : probabilities_) p /= total;
  class_distribution_ = std::discrete_distribution<int>::param_type(probabilities_.begin(), probabilities_.end());
}

size_t RareClassSampler::pick(std::mt19937_64& rng) const {
  std::discrete_distribution<int> by_class(class_distribution_);  // a copy per call: thread-safe
  const auto& images = images_of_class_[by_class(rng)];
  return images[std::uniform_int_distribution<size_t>(0, images.size() - 1)(rng)];
}

}  // namespace segtransfer
