// The interface every segmentation network implements, and the factory that
// builds one by name. Concrete networks follow the C++ frontend idiom
// (XxxOptions, XxxImpl : SegmentationModelImpl, TORCH_MODULE(Xxx)) and use the
// parameter names of their reference PyTorch implementation so that published
// state_dicts load (models/weight_import.h).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace segtransfer {

struct SegOutput {
  torch::Tensor logits;    // (N, C, h, w) at the network's output stride
  torch::Tensor features;  // (N, F, h', w') last encoder features (for feature distillation / metric heads)
};

class SegmentationModelImpl : public torch::nn::Module {
 public:
  // Logits at the network's own output resolution, plus encoder features.
  virtual SegOutput forward_features(const torch::Tensor& x) = 0;
  // Logits bilinearly upsampled to the input's size (align_corners = false).
  torch::Tensor forward(const torch::Tensor& x);
  // The same logits at the input's size, and the encoder features of the same pass.
  SegOutput forward_upsampled(const torch::Tensor& x);

  virtual int64_t num_classes() const = 0;
  virtual int64_t feature_channels() const = 0;
  // Parameters of the decode head (trained at a higher learning rate).
  virtual std::vector<torch::Tensor> head_parameters() = 0;
  std::vector<torch::Tensor> backbone_parameters();  // all parameters not in head_parameters()
  virtual std::string architecture() const = 0;
};

using SegmentationModel = std::shared_ptr<SegmentationModelImpl>;

// The table of networks: adding one is an entry here plus its file.
struct ModelInfo {
  std::string name;
  std::string description;
  bool student;  // a lightweight student (vs a larger teacher)
  std::function<SegmentationModel(int64_t num_classes)> make;
};
const std::vector<ModelInfo>& available_models();
// The entry called `name`; throws Error listing the names when there is none.
const ModelInfo& model_info(const std::string& name);

// A fresh network from the table (model_info(name).make), num_classes ≥ 1.
SegmentationModel make_model(const std::string& name, int64_t num_classes);

int64_t count_parameters(torch::nn::Module& module);

// Stores every 4-D parameter (convolution weights) of `module` in channels-last
// (NHWC) layout. Convolutions then produce channels-last activations, which the
// following layers keep: on CPU oneDNN runs its native layout without reorders
// (measured ~10% per training step, docs/performance.md). Values are unchanged.
void use_channels_last(torch::nn::Module& module);

}  // namespace segtransfer
