// Where and how fast tensors are computed: device choice and intra-op threads.
#pragma once
#include <torch/types.h>

#include <string>

namespace segtransfer {

// "auto" → the first CUDA device when this LibTorch has one, else CPU; "cpu";
// "cuda" / "cuda:N". Throws Error for an unavailable or unknown device.
torch::Device resolve_device(const std::string& name);

// Sets LibTorch's intra-op threads (0 = every core). Debian's LibTorch defaults to
// one thread, which wastes the other cores.
int configure_threads(int requested);

}  // namespace segtransfer
