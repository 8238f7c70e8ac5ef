// Debian's libtorch-dev ships c10d's reducer.hpp (PyTorch DDP's Reducer, exported
// by libtorch_cpu) but not the distributed-autograd header it includes. The
// Reducer's declaration needs two names from it, declared here as PyTorch 1.13
// has them; segtransfer never uses distributed autograd itself. CMake adds this
// folder only where the real header is missing (see CMakeLists.txt).
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch::distributed::autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace torch::distributed::autograd
