// The micro-measurements behind bench/run.sh (Google Benchmark): the machine's
// GEMM throughput, the student's training step (forward, backward, optimiser, EMA)
// with its achieved GFLOP/s and an operator profile, inference latency of students
// and teachers, and step time / memory against crop size and batch.
//
// Each case reports counters (ms, gflops, peak_rss_mib, shares); bench/run.sh runs
// every case in its own process so that peak_rss_mib is the case's own.
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "core/error.h"
#include "methods/common/optimization.h"
#include "engine/runtime.h"
#include "eval/plot.h"
#include "methods/common/ema.h"
#include "models/inference_fusion.h"
#include "models/model.h"
#include "models/model_flops.h"
#include "models/onnx_export.h"

namespace {

using namespace segtransfer;
using Clock = std::chrono::steady_clock;

int threads_from_environment() {
  const char* value = std::getenv("BENCH_THREADS");
  return value ? std::atoi(value) : 2;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// C = A·B on n×n float matrices: the machine's dense-GEMM throughput (OpenBLAS).
void matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::manual_seed(0);
  const auto a = torch::randn({n, n}), b = torch::randn({n, n});
  torch::Tensor c = torch::matmul(a, b);
  for (auto _ : state) {
    torch::matmul_out(c, a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.counters["gflops"] = benchmark::Counter(2.0 * n * n * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The category of a profiled operator, "" for none. Depthwise convolutions are
// told apart by their weight's shape (C, 1, k, k).
std::string category_of(const torch::autograd::profiler::LegacyEvent& event) {
  const std::string name = event.name();
  const auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (name == "aten::convolution" || name == "aten::convolution_backward") {
    const auto shapes = event.shapes();
    const size_t weight = name == "aten::convolution" ? 1 : 2;  // (input, weight) / (grad_out, input, weight)
    const bool depthwise =
        shapes.size() > weight && shapes[weight].size() == 4 && shapes[weight][1] == 1 && shapes[weight][0] > 1;
    return std::string(depthwise ? "conv_depthwise" : "conv_dense") +
           (name == "aten::convolution" ? "_forward" : "_backward");
  }
  if (has("batch_norm")) return "batch_norm";
  if (has("upsample")) return "upsample";
  if (has("hardswish") || has("hardsigmoid") || has("relu") || has("threshold_backward")) return "activation";
  if (has("nll_loss") || has("log_softmax") || has("cross_entropy")) return "loss";
  if (has("adaptive_avg_pool") || has("mean")) return "pooling";
  return "";
}

// Sums, per category, the inclusive time of the outermost event of that category
// (a convolution's oneDNN call nested in aten::convolution counts once).
void add_category_times(const torch::autograd::profiler::thread_event_lists& lists,
                        std::map<std::string, double>& category_us) {
  using torch::autograd::profiler::EventKind;
  struct Open {
    const torch::autograd::profiler::LegacyEvent* event;
    std::string category;
    bool inside_category;  // an enclosing range already claims a category
  };
  for (const auto& events : lists) {
    std::vector<Open> stack;
    for (const auto& event : events) {
      if (event.kind() == EventKind::PushRange) {
        const bool inside = !stack.empty() && (stack.back().inside_category || !stack.back().category.empty());
        stack.push_back({&event, inside ? "" : category_of(event), inside});
      } else if (event.kind() == EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        if (!open.category.empty()) category_us[open.category] += open.event->cpuElapsedUs(event);
      }
    }
  }
}

// The same multiply-accumulates as a GEMM, through oneDNN's convolution instead of
// OpenBLAS: a 1×1 convolution of 2048 → 2048 channels over 64×64 pixels is a
// 4096×2048 · 2048×2048 product. oneDNN may reach more than OpenBLAS on this CPU; the
// larger of the two is the limit the network's convolutions are judged against.
void conv1x1_gemm(benchmark::State& state) {
  torch::manual_seed(0);
  const auto x = torch::randn({1, 2048, 64, 64}), w = torch::randn({2048, 2048, 1, 1});
  torch::NoGradGuard no_grad;
  benchmark::DoNotOptimize(torch::conv2d(x, w).data_ptr());
  for (auto _ : state) benchmark::DoNotOptimize(torch::conv2d(x, w).data_ptr());
  state.counters["gflops"] =
      benchmark::Counter(2.0 * 64 * 64 * 2048.0 * 2048.0 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One supervised training step on random images (no loader): forward, CE, backward,
// AdamW step, then the EMA update CoRTe and the mean-teacher methods make. Times of
// each part and achieved GFLOP/s of forward + backward (3 × the forward's FLOPs:
// the backward computes input and weight gradients, each as costly as the forward).
// `channels_last`: weights and images in NHWC layout, as train.channels_last trains
// (measured against NCHW).
void train_step(benchmark::State& state, const std::string& model_name, int width, int height, int batch, bool profile,
                bool channels_last = false) {
  torch::manual_seed(0);
  auto model = make_model(model_name, 19);
  model->train();
  if (channels_last) use_channels_last(*model);
  OptimSpec spec;
  spec.lr = 1e-3;
  auto optimizer = make_optimizer(spec, *model);
  EmaModel ema(model_name, *model, torch::kCPU);
  auto images = torch::randn({batch, 3, height, width});
  if (channels_last) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
  const auto labels = torch::randint(0, 19, {batch, height, width}, torch::kLong);
  const double forward_gflop = 2.0 * count_conv_macs(*model, height, width) * batch * 1e-9;

  double forward_ms = 0, backward_ms = 0, optimiser_ms = 0, ema_ms = 0;
  std::map<std::string, double> category_us;
  int64_t iteration = 0;
  auto one_step = [&] {
    auto start = Clock::now();
    const auto loss = torch::nn::functional::cross_entropy(model->forward(images), labels);
    forward_ms += ms_since(start);
    start = Clock::now();
    optimizer->zero_grad();
    loss.backward();
    backward_ms += ms_since(start);
    start = Clock::now();
    optimizer->step();
    optimiser_ms += ms_since(start);
    start = Clock::now();
    ema.update(*model, iteration++, 0.999);
    ema_ms += ms_since(start);
  };
  one_step();  // warm-up: oneDNN primitive creation, allocator growth
  forward_ms = backward_ms = optimiser_ms = ema_ms = 0;
  for (auto _ : state) {
    if (!profile) {
      one_step();
      continue;
    }
    using namespace torch::autograd::profiler;
    const auto totals = [&](const thread_event_lists& lists) { add_category_times(lists, category_us); };
    TLSLegacyProfilerGuard guard(
        torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU, /*report_input_shapes=*/true),
        totals);
    one_step();
  }
  const double steps = static_cast<double>(state.iterations());
  const double step_ms = (forward_ms + backward_ms + optimiser_ms + ema_ms) / steps;
  state.counters["step_ms"] = step_ms;
  state.counters["forward_ms"] = forward_ms / steps;
  state.counters["backward_ms"] = backward_ms / steps;
  state.counters["optimiser_ms"] = optimiser_ms / steps;
  state.counters["ema_ms"] = ema_ms / steps;
  state.counters["images_per_s"] = batch * 1000.0 / step_ms;
  state.counters["gflops"] = 3.0 * forward_gflop / ((forward_ms + backward_ms) / steps * 1e-3);
  state.counters["peak_rss_mib"] = peak_resident_mib();
  if (profile) {
    const double total_us = (forward_ms + backward_ms + optimiser_ms + ema_ms) * 1000.0;
    for (const auto& [category, us] : category_us) state.counters["share_" + category] = us / total_us;
  }
}

// Forward latency of one image, eval mode, no autograd (`fused`: BatchNorm folded
// into the convolutions, as `eval` and `predict` run it).
void inference(benchmark::State& state, const std::string& model_name, int width, int height, bool fused) {
  torch::manual_seed(0);
  auto model = make_model(model_name, 19);
  model->eval();
  if (fused) fold_batch_norm(*model);
  torch::NoGradGuard no_grad;
  const auto image = torch::randn({1, 3, height, width});
  benchmark::DoNotOptimize(model->forward(image).data_ptr());  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(model->forward(image).data_ptr());
  state.counters["fps"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["gflops"] = benchmark::Counter(2.0 * count_conv_macs(*model, height, width) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_rss_mib"] = peak_resident_mib();
}

// The deployment path's latency: the student exported to ONNX (BatchNorm folded)
// and run by OpenCV's DNN module on its own CPU backend, same threads as LibTorch.
void inference_opencv_dnn(benchmark::State& state, const std::string& model_name, int width, int height) {
  torch::manual_seed(0);
  auto model = make_model(model_name, 19);
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("segtransfer_perf_{}_{}.onnx", model_name, ::getpid()))
          .string();
  export_onnx(*model, cv::Size(width, height), path);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  std::filesystem::remove(path);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  cv::setNumThreads(threads_from_environment());
  const int shape[] = {1, 3, height, width};
  cv::Mat blob(4, shape, CV_32F);
  cv::randn(blob, 0.0, 1.0);
  net.setInput(blob, "image");
  benchmark::DoNotOptimize(net.forward("logits").data);  // warm-up (OpenCV sets its layers up on the first pass)
  for (auto _ : state) {
    net.setInput(blob, "image");
    benchmark::DoNotOptimize(net.forward("logits").data);
  }
  state.counters["fps"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_rss_mib"] = peak_resident_mib();
}

// `segtransfer_perf --scaling-plot OUT.png RESULT.json...`: step time and peak
// memory of the scaling/ cases against crop pixels and batch, side by side.
int draw_scaling_plot(const std::string& output, const std::vector<std::string>& results) {
  PlotSeries crop_ms{"step ms (batch 2)"}, crop_mib{"peak MiB (batch 2)"}, batch_ms{"step ms (crop 256x256)"},
      batch_mib{"peak MiB (crop 256x256)"};
  for (const auto& path : results) {
    std::ifstream in(path);
    if (!in) throw Error("cannot read " + path);
    const auto document = nlohmann::json::parse(in);  // kept: a range-for over parse(in).at(...) would dangle
    for (const auto& run : document.at("benchmarks")) {
      int crop = 0, batch = 0;
      if (std::sscanf(run.at("name").get<std::string>().c_str(), "scaling/crop:%d/batch:%d", &crop, &batch) != 2)
        continue;
      const double ms = run.at("step_ms").get<double>(), mib = run.at("peak_rss_mib").get<double>();
      if (batch == 2) {  // the crop sweep (256² at batch 2 is in both)
        crop_ms.x.push_back(crop * crop / 1e6), crop_ms.y.push_back(ms);
        crop_mib.x.push_back(crop * crop / 1e6), crop_mib.y.push_back(mib);
      }
      if (crop == 256) {
        batch_ms.x.push_back(batch), batch_ms.y.push_back(ms);
        batch_mib.x.push_back(batch), batch_mib.y.push_back(mib);
      }
    }
  }
  for (auto* series : {&crop_ms, &crop_mib, &batch_ms, &batch_mib}) {
    // Points in x order (the result files come in any order).
    std::vector<size_t> order(series->x.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return series->x[a] < series->x[b]; });
    PlotSeries sorted{series->label};
    for (const size_t i : order) sorted.x.push_back(series->x[i]), sorted.y.push_back(series->y[i]);
    *series = sorted;
  }
  const cv::Size size{640, 420};
  cv::Mat row1, row2;
  cv::hconcat(draw_line_plot({crop_ms}, {"training step vs crop", "megapixels per crop", "ms per step", size}),
              draw_line_plot({batch_ms}, {"training step vs batch", "batch", "ms per step", size}), row1);
  cv::hconcat(draw_line_plot({crop_mib}, {"peak memory vs crop", "megapixels per crop", "MiB", size}),
              draw_line_plot({batch_mib}, {"peak memory vs batch", "batch", "MiB", size}), row2);
  cv::Mat grid;
  cv::vconcat(row1, row2, grid);
  write_png_atomically(output, grid);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--scaling-plot") {
    try {
      return draw_scaling_plot(argv[2], std::vector<std::string>(argv + 3, argv + argc));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "segtransfer_perf: %s\n", e.what());
      return 1;
    }
  }
  configure_allocator();
  configure_threads(threads_from_environment());
  // Every case is timed on the wall clock (UseRealTime): the main thread's CPU time, the
  // library's default, misses the other threads' work and idles while they run, so rates
  // (fps, GFLOP/s) computed from it disagreed with the ms columns.
  benchmark::RegisterBenchmark("matmul", matmul)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

  benchmark::RegisterBenchmark("conv1x1_gemm", conv1x1_gemm)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);

  const std::string student = "lraspp_mobilenet_v3_small";
  // The training benchmark's step (configs/synth_corte.yaml: 8 crops of 192×128), plain and profiled.
  benchmark::RegisterBenchmark("train_step/lraspp_mobilenet_v3_small/192x128/batch:8",
                               [=](benchmark::State& s) { train_step(s, student, 192, 128, 8, false); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(5.0);
  benchmark::RegisterBenchmark("train_step_channels_last/lraspp_mobilenet_v3_small/192x128/batch:8",
                               [=](benchmark::State& s) { train_step(s, student, 192, 128, 8, false, true); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(5.0);
  benchmark::RegisterBenchmark("train_profile/lraspp_mobilenet_v3_small/192x128/batch:8",
                               [=](benchmark::State& s) { train_step(s, student, 192, 128, 8, true); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(10);
  // Crop size at batch 2, batch at 256².
  for (const int side : {256, 512, 768, 1024}) {
    benchmark::RegisterBenchmark(fmt::format("scaling/crop:{}/batch:2", side).c_str(),
                                 [=](benchmark::State& s) { train_step(s, student, side, side, 2, false); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(3.0);
  }
  for (const int batch : {1, 4, 8, 16}) {  // batch 2 is the crop sweep's 256² case
    benchmark::RegisterBenchmark(fmt::format("scaling/crop:256/batch:{}", batch).c_str(),
                                 [=](benchmark::State& s) { train_step(s, student, 256, 256, batch, false); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(3.0);
  }
  for (const std::string model :
       {"lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large", "espnet", "deeplabv3_resnet50"}) {
    for (const auto& [w, h] : {std::pair{1024, 512}, std::pair{512, 256}}) {
      for (const bool fused : {false, true}) {
        benchmark::RegisterBenchmark(
            fmt::format("inference/{}/{}x{}/{}", model, w, h, fused ? "fused_bn" : "bn").c_str(),
            [=](benchmark::State& s) { inference(s, model, w, h, fused); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(model == "deeplabv3_resnet50" ? 3.0 : 1.0)
            ->Repetitions(5)  // the median of five: single latencies here vary by ±15% from run to run
            ->ReportAggregatesOnly(true);
      }
    }
  }
  for (const std::string model : {"lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large", "espnet"}) {
    benchmark::RegisterBenchmark(fmt::format("inference/{}/1024x512/opencv_dnn", model).c_str(),
                                 [=](benchmark::State& s) { inference_opencv_dnn(s, model, 1024, 512); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(1.0)
        ->Repetitions(5)
        ->ReportAggregatesOnly(true);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
