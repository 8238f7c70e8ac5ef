#include "engine/runtime.h"

#include <torch/cuda.h>
#include <torch/utils.h>

#include <thread>

#include "core/error.h"

namespace segtransfer {

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(name);
  } catch (const c10::Error&) {
    throw Error("unknown device '" + name + "' (use auto, cpu, cuda or cuda:N)");
  }
  if (device.is_cuda() && !torch::cuda::is_available())
    throw Error("device '" + name + "' asked for, but this LibTorch build has no usable CUDA device");
  return device;
}

int configure_threads(int requested) {
  int n = requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  return n;
}

}  // namespace segtransfer
