#include "data/synthetic.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/synthetic/canvas.h"
#include "data/synthetic/painter.h"
#include "data/synthetic/planner.h"
#include "data/synthetic/scene_plan.h"
#include "data/synthetic/style.h"
#include "data/synthetic/target_look.h"

namespace segtransfer {
namespace {

// Planning and painting take turns drawing from one random stream, so this order is
// part of every scene: the sky and skyline need only the camera, the ground needs the
// open lots, and the queued objects are drawn once all of them are planned.
SynthScene render_scene(SynthDomain domain, uint64_t seed, cv::Size size) {
  using namespace synthetic;
  Sampler random(domain, seed);
  Canvas canvas(size);
  ScenePlan plan;
  ScenePainter painter(random, canvas, plan);
  ScenePlanner planner(random, size, plan, painter);
  planner.plan_camera_and_street();
  painter.draw_sky();
  painter.draw_skyline();
  planner.plan_lots();
  painter.draw_ground();
  planner.plan_street_objects();
  planner.background().draw_far_to_near();
  planner.street_objects().draw_far_to_near();
  if (domain == SynthDomain::Target) apply_target_look(canvas, random, plan.dusk, plan.fog);
  return {canvas.image, canvas.label};
}

// --- writing the benchmark ---------------------------------------------------
namespace fs = std::filesystem;

std::string zero_padded(int value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*d", width, value);
  return buf;
}

struct Job {
  SynthDomain domain;
  uint64_t seed;
  fs::path image;
  std::vector<fs::path> labels;  // written as labelIds unless the name says TrainIds
};

// Train id → Cityscapes labelId for every byte value (ignore → 0).
const cv::Mat& label_id_lut() {
  static const cv::Mat lut = [] {
    cv::Mat m(1, 256, CV_8UC1, cv::Scalar(0));
    for (int i = 0; i < 19; ++i) m.at<uchar>(i) = static_cast<uchar>(cityscapes_label_id_of_train_id(i));
    return m;
  }();
  return lut;
}

void run_job(const Job& job, cv::Size size) {
  const SynthScene scene = render_synthetic_scene(job.domain, job.seed, size);
  cv::Mat label_ids;
  cv::LUT(scene.label, label_id_lut(), label_ids);
  for (const fs::path& path : job.labels) {
    if (fs::exists(path)) continue;
    const bool train_ids = path.filename().string().find("TrainIds") != std::string::npos;
    write_png_atomically(path, train_ids ? scene.label : label_ids);
  }
  if (!fs::exists(job.image)) write_png_atomically(job.image, scene.image);
}

void check_options(const SynthOptions& options) {
  if (options.out.empty()) throw Error("synth: no output folder given");
  const std::pair<const char*, int> counts[] = {{"source_train", options.source_train},
                                                {"source_val", options.source_val},
                                                {"target_train", options.target_train},
                                                {"target_val", options.target_val}};
  for (const auto& [name, n] : counts)
    if (n < 0) throw Error(std::string("synth: ") + name + " must not be negative (got " + std::to_string(n) + ")");
  if (options.threads < 1)
    throw Error("synth: threads must be at least 1 (got " + std::to_string(options.threads) + ")");
  if (options.size.width < 8 || options.size.height < 8)
    throw Error("synth: image size must be at least 8x8 (got " + std::to_string(options.size.width) + "x" +
                std::to_string(options.size.height) + ")");
}

// Per-image seeds depend on (seed, domain, index) only, never on the thread count.
uint64_t image_seed(uint64_t seed, SynthDomain domain, int index) {
  using synthetic::splitmix64;
  return splitmix64(splitmix64(seed) ^ splitmix64((uint64_t(domain == SynthDomain::Target) << 32) | uint64_t(index)));
}

// The source domain in the GTA5 layout; train_list and val_list get the stems of each split.
std::vector<Job> source_jobs(const SynthOptions& options, const fs::path& source, std::string& train_list,
                             std::string& val_list) {
  std::vector<Job> jobs;
  const int source_total = options.source_train + options.source_val;
  for (int i = 0; i < source_total; ++i) {
    const std::string stem = zero_padded(i + 1, 5);
    (i < options.source_train ? train_list : val_list) += stem + "\n";
    jobs.push_back({SynthDomain::Source,
                    image_seed(options.seed, SynthDomain::Source, i),
                    source / "images" / (stem + ".png"),
                    {source / "labels" / (stem + ".png")}});
  }
  return jobs;
}

// The target domain in the Cityscapes layout (one city, "synth").
std::vector<Job> target_jobs(const SynthOptions& options, const fs::path& target) {
  std::vector<Job> jobs;
  const int target_total = options.target_train + options.target_val;
  for (int i = 0; i < target_total; ++i) {
    const std::string split = i < options.target_train ? "train" : "val";
    const std::string name = "synth_000000_" + zero_padded(i, 6);
    const fs::path gt = target / "gtFine" / split / "synth";
    jobs.push_back({SynthDomain::Target,
                    image_seed(options.seed, SynthDomain::Target, i),
                    target / "leftImg8bit" / split / "synth" / (name + "_leftImg8bit.png"),
                    {gt / (name + "_gtFine_labelIds.png"), gt / (name + "_gtFine_labelTrainIds.png")}});
  }
  return jobs;
}

// Runs the jobs on up to `max_threads` threads; the first failure stops the others and is rethrown.
void run_jobs(const std::vector<const Job*>& pending, cv::Size size, int max_threads) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    while (!failed) {
      const size_t i = next++;
      if (i >= pending.size()) return;
      try {
        run_job(*pending[i], size);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure)
          failure = dynamic_cast<const Error*>(&e)
                        ? std::current_exception()
                        : std::make_exception_ptr(
                              Error("synth: cannot write " + pending[i]->image.string() + ": " + e.what()));
        failed = true;
      }
    }
  };
  const int threads = static_cast<int>(std::min<size_t>(max_threads, std::max<size_t>(1, pending.size())));
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (auto& worker : workers) worker.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

SynthScene render_synthetic_scene(SynthDomain domain, uint64_t seed, cv::Size size) {
  if (size.width < 8 || size.height < 8)
    throw Error("synthetic scene size must be at least 8x8 (got " + std::to_string(size.width) + "x" +
                std::to_string(size.height) + ")");
  return render_scene(domain, seed, size);
}

int cityscapes_label_id_of_train_id(int train_id) {
  static constexpr int kLabelIds[19] = {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33};
  if (train_id == 255) return 0;
  if (train_id < 0 || train_id >= 19)
    throw Error("not a Cityscapes train id: " + std::to_string(train_id) + " (expected 0-18 or 255)");
  return kLabelIds[train_id];
}

void write_synthetic_benchmark(const SynthOptions& options) {
  check_options(options);
  const fs::path root(options.out), source = root / "source", target = root / "target";
  std::string train_list, val_list;
  std::vector<Job> jobs = source_jobs(options, source, train_list, val_list);
  for (Job& job : target_jobs(options, target)) jobs.push_back(std::move(job));

  for (const fs::path& folder : {source, source / "images", source / "labels"}) remove_stale_temporaries(folder);
  for (const char* split : {"train", "val"})
    for (const char* kind : {"leftImg8bit", "gtFine"}) remove_stale_temporaries(target / kind / split / "synth");

  const std::pair<fs::path, const std::string*> lists[] = {{source / "train.txt", &train_list},
                                                           {source / "val.txt", &val_list}};
  for (const auto& [path, text] : lists)
    if (!fs::exists(path) || read_text_file(path) != *text) write_text_atomically(path, *text);

  std::vector<const Job*> pending;
  for (const Job& job : jobs) {
    bool done = fs::exists(job.image);
    for (const fs::path& label : job.labels) done = done && fs::exists(label);
    if (!done) pending.push_back(&job);
  }
  run_jobs(pending, options.size, options.threads);
}

}  // namespace segtransfer
