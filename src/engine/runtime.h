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

// Keeps freed tensor memory in the process instead of returning it to the kernel.
// glibc's defaults give every activation buffer above its (adaptive) mmap
// threshold back with munmap and fault it in again on the next step: measured
// 2.8 → 3.4 it/s on a CPU training step here (docs/performance.md). Call once,
// early in main. A no-op where the C library is not glibc.
void configure_allocator();

// The process's peak resident memory so far, in MiB (getrusage); 0 where unknown.
double peak_resident_mib();

// CPU seconds used by every thread of this process so far (CLOCK_PROCESS_CPUTIME_ID).
double process_cpu_seconds();

}  // namespace segtransfer
