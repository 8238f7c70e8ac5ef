#include "models/torchscript_export.h"

#include <fmt/format.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/script.h>

#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace segtransfer {
namespace {

// Puts the model in eval mode without gradients for the trace (a parameter that
// requires grad cannot become a graph constant) and restores it on every exit.
class TracingMode {
 public:
  explicit TracingMode(SegmentationModelImpl& model) : model_(model), was_training_(model.is_training()) {
    for (torch::Tensor& p : model_.parameters()) {
      requires_grad_.push_back(p.requires_grad());
      p.set_requires_grad(false);
    }
    model_.eval();
  }
  ~TracingMode() {
    auto params = model_.parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].set_requires_grad(requires_grad_[i]);
    model_.train(was_training_);
  }

 private:
  SegmentationModelImpl& model_;
  bool was_training_;
  std::vector<bool> requires_grad_;
};

}  // namespace

std::shared_ptr<torch::jit::Graph> trace_forward(SegmentationModelImpl& model, cv::Size input_size) {
  if (input_size.width < 1 || input_size.height < 1)
    throw Error(fmt::format("export needs an input size, got {}x{}", input_size.width, input_size.height));
  TracingMode mode(model);
  torch::NoGradGuard no_grad;
  const auto params = model.parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  const torch::Tensor x =
      torch::zeros({1, 3, input_size.height, input_size.width}, torch::TensorOptions().device(device));

  auto fn = [&](torch::jit::Stack in) { return torch::jit::Stack{model.forward(in[0].toTensor())}; };
  auto traced = torch::jit::tracer::trace(
      {x}, fn, [](const torch::autograd::Variable&) { return std::string(); },
      /*strict=*/false, /*force_outplace=*/false);
  std::shared_ptr<torch::jit::Graph> graph = std::get<0>(traced)->graph;
  // The weights became constants sharing the parameters' tensors; once the
  // parameters require grad again a constant must not (TorchScript refuses to save it).
  for (torch::jit::Node* node : graph->nodes()) {
    if (node->kind() == c10::prim::Constant && node->hasAttribute(c10::attr::value) &&
        node->kindOf(c10::attr::value) == torch::jit::AttributeKind::t)
      node->t_(c10::attr::value, node->t(c10::attr::value).detach());
  }
  return graph;
}

void export_torchscript(SegmentationModelImpl& model, cv::Size input_size, const std::string& path) {
  std::shared_ptr<torch::jit::Graph> graph = trace_forward(model, input_size);

  // A module whose forward(self, x) is the traced graph, the weights as its constants.
  torch::jit::Module module("__torch__.segtransfer.BlackBox");
  graph->insertInput(0, "self")->setType(module._ivalue()->type());
  torch::jit::Function* forward = module._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*module.type()->name(), "forward"), graph);
  module.type()->addMethod(forward);
  write_atomically(path, [&](const std::filesystem::path& tmp) {
    try {
      module.save(tmp.string());
    } catch (const c10::Error& e) {
      const std::string message = e.what_without_backtrace();
      throw Error(fmt::format("cannot write TorchScript model {}: {}", path, message.substr(0, message.find('\n'))));
    }
  });
}

}  // namespace segtransfer
