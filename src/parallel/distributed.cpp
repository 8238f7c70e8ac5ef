#include "parallel/distributed.h"

#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

#include "core/error.h"

namespace segtransfer {

namespace {

int env_int(const char* name, int fallback, int min_value) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < min_value || x > 1 << 20)
    throw Error(fmt::format("environment variable {}='{}' is not an integer >= {}", name, v, min_value));
  return static_cast<int>(x);
}

// c10d reports a lost peer or a timeout as c10::Error with a C++ backtrace; the
// user needs one line saying what it means.
[[noreturn]] void rethrow_collective_failure(const ProcessLayout& layout, const std::string& what,
                                             const std::exception& e) {
  std::string message = e.what();
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) message = c10->what_without_backtrace();
  if (auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
  throw Error(
      fmt::format("data-parallel rank {} of {}: {} failed — another process died, hung or was "
                  "killed (distributed.timeout_s bounds the wait): {}",
                  layout.rank, layout.world_size, what, message));
}

void wait_for(const c10::intrusive_ptr<c10d::Work>& work, const ProcessLayout& layout, const std::string& what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    rethrow_collective_failure(layout, what, e);
  }
}

}  // namespace

ProcessLayout ProcessLayout::from_environment() {
  ProcessLayout l;
  l.world_size = env_int("WORLD_SIZE", 1, 1);
  l.rank = env_int("RANK", 0, 0);
  l.local_rank = env_int("LOCAL_RANK", l.rank, 0);
  l.local_world_size = env_int("LOCAL_WORLD_SIZE", l.world_size, 1);
  if (l.rank >= l.world_size)
    throw Error(fmt::format("environment variable RANK={} must be below WORLD_SIZE={}", l.rank, l.world_size));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) l.master_addr = a;
  l.master_port = env_int("MASTER_PORT", 29500, 1);
  if (l.master_port > 65535)
    throw Error(fmt::format("environment variable MASTER_PORT={} is not a port", l.master_port));
  if (l.distributed() && (!std::getenv("MASTER_ADDR") || !std::getenv("MASTER_PORT")))
    throw Error("WORLD_SIZE > 1 needs MASTER_ADDR and MASTER_PORT (the rank-0 host and a free port)");
  return l;
}

DistributedOptions DistributedOptions::from_config(const RunConfig& config) {
  const YAML::Node& t = config.tree;
  DistributedOptions o;
  o.backend = config_value<std::string>(t, "distributed.backend");
  o.sync_batch_norm = config_value<bool>(t, "distributed.sync_batch_norm");
  o.bucket_mb = config_value<double>(t, "distributed.bucket_mb");
  o.timeout_s = config_value<double>(t, "distributed.timeout_s");
  if (o.backend != "auto" && o.backend != "gloo" && o.backend != "nccl")
    throw Error("config key 'distributed.backend' must be auto, gloo or nccl, not '" + o.backend + "'");
  if (o.bucket_mb <= 0) throw Error("config key 'distributed.bucket_mb' must be > 0");
  if (o.timeout_s <= 0) throw Error("config key 'distributed.timeout_s' must be > 0");
  return o;
}

struct DataParallelGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
};

DataParallelGroup::DataParallelGroup(const ProcessLayout& layout, const DistributedOptions& options,
                                     const torch::Device& device)
    : layout_(layout), options_(options), impl_(std::make_unique<Impl>()) {
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000));
  std::string backend = options.backend;
  if (backend == "auto") backend = device.is_cuda() ? "nccl" : "gloo";
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(layout.master_port);
    so.isServer = layout.is_main();
    so.numWorkers = layout.world_size;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(layout.master_addr, so);
    auto store = c10::make_intrusive<c10d::PrefixStore>("segtransfer/", impl_->store);
    if (backend == "nccl") {
#ifdef USE_C10D_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, layout.rank, layout.world_size, o);
#else
      throw Error("distributed.backend nccl needs a LibTorch built with CUDA and NCCL; this one has gloo only");
#endif
    } else {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      // PyTorch's choice: GLOO_SOCKET_IFNAME names the interface, else this host's address.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      o->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                             : c10d::ProcessGroupGloo::createDefaultDevice());
      impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, layout.rank, layout.world_size, o);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    rethrow_collective_failure(layout,
                               fmt::format("joining the group at {}:{}", layout.master_addr, layout.master_port), e);
  }
}

DataParallelGroup::~DataParallelGroup() = default;

void DataParallelGroup::broadcast_from_main(std::vector<torch::Tensor> tensors, const std::string& what) {
  torch::NoGradGuard no_grad;
  for (auto& t : tensors) {
    // Broadcast writes in place; a non-contiguous tensor goes through a copy.
    std::vector<torch::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
    wait_for(impl_->group->broadcast(one), layout_, "broadcasting " + what);
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

void DataParallelGroup::barrier(const std::string& what) { wait_for(impl_->group->barrier(), layout_, what); }

namespace {

// Sum over the processes whose gradient is the sum over the processes of the
// gradients: each process's statistic feeds every process's loss.
class ReplicaSumFunction : public torch::autograd::Function<ReplicaSumFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               DataParallelGroup* group) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);  // the group outlives the graph
    return group->all_reduce_sum(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto* group = reinterpret_cast<DataParallelGroup*>(ctx->saved_data["group"].toInt());
    return {group->all_reduce_sum(grads[0]), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor DataParallelGroup::all_reduce_sum(const torch::Tensor& x) {
  std::vector<torch::Tensor> t{x.detach().clone().contiguous()};
  wait_for(impl_->group->allreduce(t), layout_, "an all-reduce");
  return t[0];
}

torch::Tensor DataParallelGroup::replica_sum(const torch::Tensor& x) { return ReplicaSumFunction::apply(x, this); }

void DataParallelGroup::synchronise_batch_norm(torch::nn::Module& module) {
  if (!options_.sync_batch_norm) return;
  segtransfer::synchronise_batch_norm(module, [this](const torch::Tensor& x) { return replica_sum(x); });
}

namespace {

class ReducerSync : public GradientSync {
 public:
  ReducerSync(std::vector<torch::Tensor> parameters, c10::intrusive_ptr<c10d::ProcessGroup> group,
              const ProcessLayout& layout, double bucket_mb)
      : layout_(layout) {
    const auto bucket_bytes = static_cast<size_t>(bucket_mb * 1024 * 1024);
    const std::vector<bool> sparse(parameters.size(), false);
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
        parameters, {static_cast<size_t>(c10d::kDefaultFirstBucketBytes), bucket_bytes}, sparse);
    // As PyTorch's DDP: gradients arrive roughly last layer first, so the buckets
    // are reduced in reverse parameter order.
    std::reverse(buckets.begin(), buckets.end());
    std::reverse(limits.begin(), limits.end());
    reducer_ = std::make_unique<c10d::Reducer>(
        std::move(parameters), std::move(buckets), std::move(limits), std::move(group), sparse,
        static_cast<int64_t>(bucket_bytes),
        /*find_unused_parameters=*/true,
        /*gradient_as_bucket_view=*/false, std::unordered_map<size_t, std::string>{}, c10d::kDefaultFirstBucketBytes);
  }

  void backward(const torch::Tensor& loss, bool last) override {
    try {
      if (last) {
        reducer_->prepare_for_forward();
        reducer_->prepare_for_backward({loss});
      }
      loss.backward();
    } catch (const std::exception& e) {
      rethrow_collective_failure(layout_, "the gradient all-reduce", e);
    }
  }

 private:
  ProcessLayout layout_;
  std::unique_ptr<c10d::Reducer> reducer_;
};

}  // namespace

std::unique_ptr<GradientSync> DataParallelGroup::gradient_sync(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> trained;
  for (const auto& p : parameters)
    if (p.requires_grad()) trained.push_back(p);
  return std::make_unique<ReducerSync>(std::move(trained), impl_->group, layout_, options_.bucket_mb);
}

}  // namespace segtransfer
