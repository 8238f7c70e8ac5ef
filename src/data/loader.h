// A multi-threaded prefetching loader. Batch k is a pure function of (seed, k):
// the sample order of each epoch and each sample's augmentation RNG derive from
// the seed, the epoch and the position, never from thread scheduling. That makes
// runs deterministic and `--resume` exact (start at batch k = iteration).
#pragma once
#include <torch/types.h>

#include <array>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"
#include "data/rare_class_sampling.h"

namespace segtransfer {

struct Batch {
  torch::Tensor image;  // (B, 3, H, W) float32, normalised RGB
  torch::Tensor label;  // (B, H, W) int64 (255 = ignore); undefined when unlabelled
  torch::Tensor aux;    // (B, n, H, W) uint8 per-pixel extras (dataset aux reader); undefined without one
  std::vector<std::string> stems;
  std::vector<size_t> indices;  // dataset indices
  int64_t number = 0;           // batch number k
};

struct LoaderOptions {
  int batch_size = 2;
  int workers = 2;
  int prefetch = 4;
  bool shuffle = true;
  uint64_t seed = 0;
  AugmentSpec augment;
  std::array<double, 3> mean{123.675, 116.28, 103.53};
  std::array<double, 3> std{58.395, 57.12, 57.375};
  // When set, every sample is drawn by rare-class sampling (seeded by (seed, k, j))
  // instead of from the shuffled epoch order.
  std::shared_ptr<const RareClassSampler> sampler;
  // Data-parallel share: batch k of `shards` processes together is the batch k of
  // batch_size × shards one process would draw, and this process takes the
  // `shard`-th slice of it (same samples, same augmentation draws).
  int shard = 0, shards = 1;
};

// HWC uint8 BGR → (3, H, W) float32 normalised RGB.
torch::Tensor image_to_tensor(const cv::Mat& bgr, const std::array<double, 3>& mean, const std::array<double, 3>& std);
torch::Tensor label_to_tensor(const cv::Mat& label);  // (H, W) int64

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const SegDataset> dataset, LoaderOptions options, int64_t first_batch = 0);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Next batch in order (infinite: epochs repeat with a new order). Rethrows a
  // worker's error (e.g. an unreadable image) on the calling thread.
  Batch next();
  // Seconds the caller spent waiting in next() since the last call to this.
  double take_wait_seconds();
  const SegDataset& dataset() const { return *dataset_; }

  static Batch make_batch(const SegDataset& dataset, const LoaderOptions& options, int64_t number);

 private:
  void worker_loop();

  std::shared_ptr<const SegDataset> dataset_;
  LoaderOptions options_;
  std::mutex mutex_;
  std::condition_variable ready_cv_, space_cv_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  int64_t next_to_produce_, next_to_return_;
  bool stop_ = false;
  double wait_seconds_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace segtransfer
