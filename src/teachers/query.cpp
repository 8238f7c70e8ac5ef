#include "teachers/query.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace segtransfer {

QueryReport run_query(Teacher& teacher, const SegDataset& images, const PredictionStore& store,
                      const QueryProgress& progress, int shard, int shards) {
  if (shards < 1 || shard < 0 || shard >= shards)
    throw Error(fmt::format("query shard {} of {} is not a valid share", shard, shards));
  const auto start = std::chrono::steady_clock::now();
  std::vector<size_t> mine;  // this process's images
  for (size_t i = static_cast<size_t>(shard); i < images.size(); i += static_cast<size_t>(shards)) mine.push_back(i);
  const int64_t total = static_cast<int64_t>(mine.size());
  const int64_t requests_before = teacher.requests();
  QueryReport report;
  report.images = total;

  std::atomic<int64_t> next{0}, done{0}, skipped{0}, stored{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards failures, fatal, progress
  std::exception_ptr fatal;

  auto worker = [&] {
    for (int64_t i = next++; i < total && !stop; i = next++) {
      const size_t index = mine[static_cast<size_t>(i)];
      const SampleFiles& files = images.files()[index];
      try {
        if (store.has_valid_entry(files.stem)) {
          ++skipped;
        } else {
          const cv::Mat image = images.read_image(index);
          store.put(files.stem, teacher.ask(image, files.stem));
          ++stored;
        }
      } catch (const TeacherUnavailable&) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!fatal) fatal = std::current_exception();
        stop = true;
        return;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex);
        report.failures.push_back(files.stem + ": " + e.what());
      }
      const int64_t d = ++done;
      if (progress) {
        std::lock_guard<std::mutex> lock(mutex);
        progress(d, total);
      }
    }
  };
  const int threads = std::max(1, std::min<int>(teacher.max_concurrency(), static_cast<int>(total)));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (fatal) std::rethrow_exception(fatal);

  std::sort(report.failures.begin(), report.failures.end());
  report.skipped = skipped;
  report.stored = stored;
  report.requests = teacher.requests() - requests_before;
  for (size_t index : mine) report.stored_bytes += store.entry_bytes(images.files()[index].stem);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace segtransfer
