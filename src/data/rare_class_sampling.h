// Rare-class sampling (DAFormer, Hoyer et al. 2022): source images are drawn by
// class, class c with probability ∝ exp((1 − f_c) / T) where f_c is the class's
// share of the labelled pixels, then uniformly among the images that show at
// least `min_pixels` of it. Rare classes are seen far more often than an epoch
// order would show them.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace segtransfer {

class SegDataset;

// Per image, its pixel count of every class (train ids), read once from the labels.
struct ClassStatistics {
  int num_classes = 0;
  std::vector<std::vector<int64_t>> pixels;  // [image][class]
  std::vector<double> frequencies() const;   // f_c: share of all labelled pixels
};

// Counts every label of `dataset` (labelled), or reads the counts from the cache
// file `cache` when it exists and was made for the same files; writes it
// (atomically) otherwise. Empty `cache` = no caching.
ClassStatistics class_statistics(const SegDataset& dataset, const std::string& cache);

// The cache file for `dataset` under `cache_dir`: named by a hash of the dataset's
// files and label space, so another split or layout never reuses it.
std::string class_statistics_cache_path(const SegDataset& dataset, const std::string& cache_dir);

class RareClassSampler {
 public:
  // Throws Error when no class reaches `min_pixels` in any image or temperature ≤ 0.
  RareClassSampler(const ClassStatistics& stats, double temperature, int64_t min_pixels);
  // A dataset index, drawn as described above.
  size_t pick(std::mt19937_64& rng) const;
  const std::vector<double>& class_probabilities() const { return probabilities_; }  // 0 for unusable classes

 private:
  std::vector<double> probabilities_;
  std::vector<std::vector<size_t>> images_of_class_;
  std::discrete_distribution<int>::param_type class_distribution_;
};

}  // namespace segtransfer
