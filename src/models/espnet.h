// ESPNet (Mehta et al., ECCV 2018) with the module layout and parameter names
// of the authors' code (sacmehta/ESPNet, train/Model.py: ESPNet with its
// ESPNet_Encoder as `encoder`), so their published checkpoints load by name.
#pragma once
#include <torch/torch.h>

#include "models/batch_norm.h"
#include "models/conv_blocks.h"
#include "models/model.h"

namespace segtransfer {

struct ESPNetOptions {
  explicit ESPNetOptions(int64_t num_classes) : num_classes_(num_classes) {}
  TORCH_ARG(int64_t, num_classes);  // at least 5 (the decoder's ESP block has 5 branches)
  // ESP blocks at stride 4 (p) and 8 (q); p=2, q=8 is the published ESPNet
  // (train/main.py defaults, pretrained/*/espnet_p_2_q_8.pth, ~0.36M parameters).
  TORCH_ARG(int64_t, p) = 2;
  TORCH_ARG(int64_t, q) = 8;
  // The published Cityscapes checkpoint (espnet_p_2_q_3.pth) has one output more than
  // the 19 trainIds: "background", trained on the void pixels, which no protocol scores
  // (its own test script relabels it 255). With this set the network is built with that
  // extra output, so the checkpoint loads unchanged, and drops it at the end: the rest of
  // segtransfer sees num_classes outputs. Dropping it inside the decoder instead would
  // change the function, as the decoder's class-wide layers mix every channel.
  TORCH_ARG(bool, background_output) = false;
  // The reference feeds BGR images (cv2.imread): the network flips RGB input to BGR first.
  TORCH_ARG(bool, bgr_input) = false;
  // The decoder's last CBR takes the level-1 conv output (16 channels), as in the
  // published decoder checkpoints' test/Model.py, instead of its concatenation with the
  // downsampled image (19 channels, train/Model.py).
  TORCH_ARG(bool, level1_conv_skip) = false;
};

namespace espnet {

// The reference's CBR and BR are models/conv_blocks.h's ConvBnPReLU and BnPReLU, eps 1e-3.

// The reference's C / CDilated: a bias-free conv held as "conv".
class ConvImpl : public torch::nn::Module {
 public:
  ConvImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t dilation = 1);
  torch::Tensor forward(const torch::Tensor& x) { return conv_(x); }

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Conv);

// The ESP module: reduce (c1), split into dilated branches d1..d16, hierarchical
// feature fusion, merge. As DownSamplerB (stride 2, 3x3 reduce, "bn"/"act" of
// its own) or DilatedParllelResidualBlockB (1x1 reduce, "bn" = BR, optional
// residual).
class ESPBlockImpl : public torch::nn::Module {
 public:
  enum class Kind { kDownsampler, kResidual, kPlain };
  ESPBlockImpl(int64_t in_channels, int64_t out_channels, Kind kind);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Kind kind_;
  Conv c1_{nullptr};
  std::vector<Conv> branches_;  // d1, d2, d4, d8, d16
  BatchNorm2d downsampler_bn_{nullptr};
  torch::nn::PReLU downsampler_act_{nullptr};
  BnPReLU br_{nullptr};
};
TORCH_MODULE(ESPBlock);

struct EncoderOutputs {
  torch::Tensor level1_conv;  // stride 2, 16 channels (output0)
  torch::Tensor level1;       // stride 2, 16 + 3 channels (output0_cat)
  torch::Tensor level2;       // stride 4, 128 + 3 channels (output1_cat)
  torch::Tensor level3;       // stride 8, 256 channels (output2_cat)
};

// ESPNet-C (ESPNet_Encoder) up to its final features; its `classifier` is
// applied by ESPNet's decoder.
class EncoderImpl : public torch::nn::Module {
 public:
  EncoderImpl(int64_t num_classes, int64_t p, int64_t q);
  EncoderOutputs forward(const torch::Tensor& x);
  Conv classifier{nullptr};

 private:
  ConvBnPReLU level1_{nullptr};
  BnPReLU b1_{nullptr}, b2_{nullptr}, b3_{nullptr};
  ESPBlock level2_0_{nullptr}, level3_0_{nullptr};
  torch::nn::Sequential level2_{nullptr}, level3_{nullptr};
};
TORCH_MODULE(Encoder);

}  // namespace espnet

class ESPNetImpl : public SegmentationModelImpl {
 public:
  explicit ESPNetImpl(const ESPNetOptions& options);

  // Logits at full resolution (the decoder upsamples ×8); features = the
  // encoder's stride-8 output (256 channels). Height and width must be
  // multiples of 8 for the decoder's skip connections to line up.
  SegOutput forward_features(const torch::Tensor& x) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  int64_t feature_channels() const override { return 256; }
  // The class-space decoder: encoder.classifier and the RUM cascade.
  std::vector<torch::Tensor> head_parameters() override;
  std::string architecture() const override { return "espnet"; }

 private:
  ESPNetOptions options_;
  espnet::Encoder encoder_{nullptr};
  espnet::Conv level3_C_{nullptr};
  BatchNorm2d br_{nullptr};
  ConvBnPReLU conv_{nullptr};
  torch::nn::Sequential up_l3_{nullptr}, combine_l2_l3_{nullptr}, up_l2_{nullptr};
  torch::nn::ConvTranspose2d classifier_{nullptr};
};
TORCH_MODULE(ESPNet);

}  // namespace segtransfer
