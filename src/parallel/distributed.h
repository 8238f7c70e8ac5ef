// Data-parallel training on PyTorch's distributed engine (c10d): one process per
// replica, rendezvous through a TCPStore at MASTER_ADDR:MASTER_PORT, gradients
// all-reduced by c10d's Reducer (PyTorch DDP's bucketed all-reduce, launched
// from autograd hooks so it overlaps the backward pass), optional synchronised
// BatchNorm. The c10d headers stay in distributed.cpp.
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/batch_norm.h"

namespace segtransfer {

// Where this process sits, from the variables torchrun and Slurm launchers set:
// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
// Without WORLD_SIZE (or with 1) the run is a single process.
struct ProcessLayout {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool distributed() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
  // Throws Error naming the variable when one is malformed or inconsistent.
  static ProcessLayout from_environment();
};

struct DistributedOptions {
  std::string backend = "auto";  // auto | gloo | nccl
  bool sync_batch_norm = true;
  double bucket_mb = 25;
  double timeout_s = 300;
  static DistributedOptions from_config(const RunConfig& config);
};

// Gradients of a set of parameters, averaged over every process.
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // loss.backward(); when `last` (the step's final backward pass), the
  // parameters' accumulated gradients are averaged over the processes while the
  // pass runs. Earlier passes of a step only accumulate locally (DDP's no_sync).
  virtual void backward(const torch::Tensor& loss, bool last) = 0;
};

class DataParallelGroup {
 public:
  // Joins the group (blocks until every process has arrived, or throws Error
  // after distributed.timeout_s).
  DataParallelGroup(const ProcessLayout& layout, const DistributedOptions& options, const torch::Device& device);
  ~DataParallelGroup();
  DataParallelGroup(const DataParallelGroup&) = delete;
  DataParallelGroup& operator=(const DataParallelGroup&) = delete;

  const ProcessLayout& layout() const { return layout_; }
  const DistributedOptions& options() const { return options_; }
  // Overwrites `tensors` with rank 0's values (initial weights, BatchNorm buffers).
  void broadcast_from_main(std::vector<torch::Tensor> tensors, const std::string& what);
  // Waits for every process; `what` names the wait in a timeout error.
  void barrier(const std::string& what);
  // The sum of `x` over the processes (a new tensor; no gradient).
  torch::Tensor all_reduce_sum(const torch::Tensor& x);
  // The sum over the processes, differentiable (its gradient is the summed gradient).
  torch::Tensor replica_sum(const torch::Tensor& x);
  // Bucketed gradient averaging over `parameters` (those that require grad).
  std::unique_ptr<GradientSync> gradient_sync(const std::vector<torch::Tensor>& parameters);
  // Synchronised BatchNorm for every BatchNorm2d of `module` when distributed.sync_batch_norm.
  void synchronise_batch_norm(torch::nn::Module& module);

  struct Impl;

 private:
  ProcessLayout layout_;
  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace segtransfer
