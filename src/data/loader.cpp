#include "data/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <utility>
#include <opencv2/core/utility.hpp>

#include "core/error.h"
#include "data/transforms.h"

namespace segtransfer {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Seeds of independent streams: the tag keeps the epoch-order and the
// per-sample streams apart even where their numbers coincide.
enum class Stream : uint64_t { kEpochOrder = 1, kSample = 2, kPick = 3 };

uint64_t stream_seed(uint64_t seed, Stream stream, std::initializer_list<uint64_t> numbers) {
  uint64_t h = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(stream)));
  for (uint64_t n : numbers) h = splitmix64(h ^ n);
  return h;
}

std::vector<size_t> epoch_order(size_t size, const LoaderOptions& options, int64_t epoch) {
  std::vector<size_t> order(size);
  std::iota(order.begin(), order.end(), size_t{0});
  if (options.shuffle) {
    Rng rng(stream_seed(options.seed, Stream::kEpochOrder, {static_cast<uint64_t>(epoch)}));
    std::shuffle(order.begin(), order.end(), rng);
  }
  return order;
}

void check_usable(const SegDataset& dataset, const LoaderOptions& options) {
  if (dataset.size() == 0) throw Error(fmt::format("{}: the dataset has no samples", dataset.description()));
  if (options.batch_size < 1) throw Error(fmt::format("batch size must be at least 1, got {}", options.batch_size));
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    throw Error(fmt::format("loader shard {} of {} is not a valid share", options.shard, options.shards));
}

void write_label(const cv::Mat& label, int64_t* out) {
  if (label.type() != CV_8UC1)
    throw Error(fmt::format("label_to_tensor: expected an 8-bit label map, got {}", cv::typeToString(label.type())));
  for (int y = 0; y < label.rows; ++y) {
    const uint8_t* row = label.ptr<uint8_t>(y);
    std::copy(row, row + label.cols, out + static_cast<int64_t>(y) * label.cols);
  }
}

}  // namespace

torch::Tensor image_to_tensor(const cv::Mat& bgr, const std::array<double, 3>& mean, const std::array<double, 3>& std) {
  torch::Tensor out = torch::empty({3, bgr.rows, bgr.cols}, torch::kFloat32);
  write_normalised_rgb(bgr, mean, std, out.data_ptr<float>());
  return out;
}

torch::Tensor label_to_tensor(const cv::Mat& label) {
  torch::Tensor out = torch::empty({label.rows, label.cols}, torch::kInt64);
  write_label(label, out.data_ptr<int64_t>());
  return out;
}

// Sample j of batch k is the sample at position k·B + j of the endless sequence
// of epochs, each a permutation seeded by (seed, epoch); its augmentation RNG is
// seeded by (seed, k, j). B is the batch of all shards together; a shard builds
// its slice of it. Nothing depends on which thread builds the batch.
Batch DataLoader::make_batch(const SegDataset& dataset, const LoaderOptions& options, int64_t number) {
  check_usable(dataset, options);
  const int64_t size = static_cast<int64_t>(dataset.size()), batch_size = options.batch_size;
  const bool labelled = dataset.has_labels();
  Batch batch;
  batch.number = number;
  std::vector<size_t> order;
  int64_t order_epoch = -1;
  for (int64_t local = 0; local < batch_size; ++local) {
    const int64_t j = options.shard * batch_size + local;  // within the batch of every shard together
    const int64_t position = number * batch_size * options.shards + j, epoch = position / size;
    size_t index;
    if (options.sampler) {
      Rng pick(stream_seed(options.seed, Stream::kPick, {static_cast<uint64_t>(number), static_cast<uint64_t>(j)}));
      index = options.sampler->pick(pick);
    } else {
      if (epoch != order_epoch) {
        order = epoch_order(dataset.size(), options, epoch);
        order_epoch = epoch;
      }
      index = order[position % size];
    }
    Sample sample = dataset.read(index);
    Rng rng(stream_seed(options.seed, Stream::kSample, {static_cast<uint64_t>(number), static_cast<uint64_t>(j)}));
    if (sample.aux.empty()) {
      augment(sample.image, sample.label, options.augment, rng);
    } else {
      // The extras ride along with the label as extra channels, so every geometric
      // step (nearest resize, crop, flip) treats them exactly like the label.
      cv::Mat label =
          sample.label.empty() ? cv::Mat(sample.image.size(), CV_8UC1, cv::Scalar(kIgnoreIndex)) : sample.label;
      cv::Mat carrier;
      cv::merge(std::vector<cv::Mat>{label, sample.aux}, carrier);
      augment(sample.image, carrier, options.augment, rng);
      std::vector<cv::Mat> channels;
      cv::split(carrier, channels);
      if (!sample.label.empty()) sample.label = channels[0];
      channels.erase(channels.begin());
      cv::merge(channels, sample.aux);
    }

    const cv::Size image_size = sample.image.size();
    if (local == 0) {
      batch.image = torch::empty({batch_size, 3, image_size.height, image_size.width}, torch::kFloat32);
      if (labelled) batch.label = torch::empty({batch_size, image_size.height, image_size.width}, torch::kInt64);
      if (!sample.aux.empty())
        batch.aux =
            torch::empty({batch_size, sample.aux.channels(), image_size.height, image_size.width}, torch::kUInt8);
    } else if (image_size.height != batch.image.size(2) || image_size.width != batch.image.size(3)) {
      throw Error(
          fmt::format("{}: sample '{}' is {}x{} after augmentation but '{}' is {}x{}; set data.augment.crop "
                      "or data.augment.resize so that a batch's samples share a size",
                      dataset.description(), sample.stem, image_size.width, image_size.height, batch.stems.front(),
                      batch.image.size(3), batch.image.size(2)));
    }
    write_normalised_rgb(sample.image, options.mean, options.std, batch.image[local].data_ptr<float>());
    if (labelled) {
      if (sample.label.empty())
        throw Error(fmt::format("{}: sample '{}' has no label but the dataset is labelled", dataset.description(),
                                sample.stem));
      write_label(sample.label, batch.label[local].data_ptr<int64_t>());
    }
    if (batch.aux.defined()) {
      // HWC → CHW for this sample.
      auto hwc = torch::from_blob(sample.aux.data, {image_size.height, image_size.width, sample.aux.channels()},
                                  {static_cast<int64_t>(sample.aux.step[0]), sample.aux.channels(), 1}, torch::kUInt8);
      batch.aux[local].copy_(hwc.permute({2, 0, 1}));
    }
    batch.stems.push_back(std::move(sample.stem));
    batch.indices.push_back(index);
  }
  return batch;
}

DataLoader::DataLoader(std::shared_ptr<const SegDataset> dataset, LoaderOptions options, int64_t first_batch)
    : dataset_(std::move(dataset)),
      options_(std::move(options)),
      next_to_produce_(first_batch),
      next_to_return_(first_batch) {
  if (!dataset_) throw Error("data loader: no dataset");
  check_usable(*dataset_, options_);
  if (options_.workers < 0) throw Error(fmt::format("train.workers must be >= 0, got {}", options_.workers));
  options_.prefetch = std::max(options_.prefetch, 1);
  if (options_.workers > 0) {
    // The workers already parallelise across batches; OpenCV's own thread pool
    // inside them would only compete with torch's intra-op threads. OpenCV has
    // no per-thread setting (cv::setNumThreads is process-wide), so a threaded
    // loader makes the process's OpenCV calls sequential.
    cv::setNumThreads(1);
  }
  threads_.reserve(options_.workers);
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back(&DataLoader::worker_loop, this);
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  space_cv_.notify_all();
  ready_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

// Claims batch numbers in increasing order while fewer than `prefetch` batches
// are claimed but not yet returned; the first error stops all workers.
void DataLoader::worker_loop() {
  while (true) {
    int64_t number;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_cv_.wait(lock, [&] { return stop_ || next_to_produce_ < next_to_return_ + options_.prefetch; });
      if (stop_) return;
      number = next_to_produce_++;
    }
    try {
      Batch batch = make_batch(*dataset_, options_, number);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(number, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      stop_ = true;
      space_cv_.notify_all();
    }
    ready_cv_.notify_all();
  }
}

Batch DataLoader::next() {
  const auto start = std::chrono::steady_clock::now();
  auto add_wait = [&] {
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  if (threads_.empty()) {
    // Synchronous: building the batch is the caller's wait.
    Batch batch = make_batch(*dataset_, options_, next_to_return_);
    ++next_to_return_;
    add_wait();
    return batch;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  ready_cv_.wait(lock, [&] { return ready_.count(next_to_return_) > 0 || error_; });
  add_wait();
  auto it = ready_.find(next_to_return_);
  if (it == ready_.end()) std::rethrow_exception(error_);
  Batch batch = std::move(it->second);
  ready_.erase(it);
  ++next_to_return_;
  lock.unlock();
  space_cv_.notify_all();
  return batch;
}

double DataLoader::take_wait_seconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(wait_seconds_, 0.0);
}

}  // namespace segtransfer
