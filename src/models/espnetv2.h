// ESPNetv2 for semantic segmentation (Mehta et al., CVPR 2019) with the module
// layout and parameter names of the authors' EdgeNets code
// (model/segmentation/espnetv2.py: ESPNetv2Segmentation, its EESPNet levels 1-4
// as `base_net`, an EfficientPyrPool / EfficientPWConv decoder), so that the
// published state_dicts (espnetv2_s_{1.0,2.0}_pascal_384x384.pth) load by name.
// The reference expects RGB in [0, 1] normalised with the ImageNet mean/std: the
// same tensor as segtransfer's loader makes with mean/std in 0..255 units.
// Exported to ONNX by models/onnx_export.h (its pyramid pooling's adaptive_avg_pool2d
// and channel shuffle included).
#pragma once
#include <torch/torch.h>

#include "models/batch_norm.h"
#include "models/conv_blocks.h"
#include "models/model.h"

namespace segtransfer {

struct ESPNetv2Options {
  explicit ESPNetv2Options(int64_t num_classes) : num_classes_(num_classes) {}
  TORCH_ARG(int64_t, num_classes);  // at least 2 (the pyramid pools project to num_classes / 2 channels)
  // Width multiplier s: 0.5, 1.0, 1.5 or 2.0 (EdgeNets espnetv2_config.sc_ch_dict).
  TORCH_ARG(double, width) = 1.0;
  // The decoder's base width: 16 for PASCAL VOC and Cityscapes (the published
  // checkpoints), 32 for COCO (dec_feat_dict).
  TORCH_ARG(int64_t, decoder_planes) = 16;
};

namespace espnetv2 {

// The encoder's layers (nn_layers/espnet_utils.py), members named as there; its CBR, CB and
// BR are models/conv_blocks.h's ConvBnPReLU, ConvBn and BnPReLU (PyTorch's BatchNorm eps).
// CDilated: a bias-free depth-wise 3x3 convolution held as "conv".
class CDilatedImpl : public torch::nn::Module {
 public:
  CDilatedImpl(int64_t channels, int64_t stride, int64_t dilation);
  torch::Tensor forward(const torch::Tensor& x) { return conv_(x); }

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(CDilated);

// The EESP unit (reduce with a group 1x1, split into k depth-wise dilated
// branches, hierarchical feature fusion, merge with a group 1x1): "proj_1x1",
// "spp_dw.i", "br_after_cat", "conv_1x1_exp", "module_act". Strided, as inside
// a DownSampler ("avg" down_method), it returns the merged maps before the
// residual and activation ("module_act" exists but is unused, as in the reference).
class EESPImpl : public torch::nn::Module {
 public:
  EESPImpl(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t branches, int64_t receptive_limit);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t stride_;
  ConvBnPReLU proj_1x1_{nullptr};
  std::vector<CDilated> spp_dw_;
  ConvBn conv_1x1_exp_{nullptr};
  BnPReLU br_after_cat_{nullptr};
  torch::nn::PReLU module_act_{nullptr};
};
TORCH_MODULE(EESP);

// The strided DownSampler: [avg-pool(x), strided EESP(x)] concatenated, plus the
// input reinforcement (the image, average-pooled to this resolution, through
// CBR 3→3 and CB 3→out): "eesp", "inp_reinf.0/1", "act".
class DownSamplerImpl : public torch::nn::Module {
 public:
  DownSamplerImpl(int64_t in_channels, int64_t out_channels, int64_t branches, int64_t receptive_limit);
  // `image`: the input image average-pooled (3x3, stride 2, pad 1) to this block's output size.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& image);

 private:
  EESP eesp_{nullptr};
  torch::nn::Sequential inp_reinf_{nullptr};
  torch::nn::PReLU act_{nullptr};
};
TORCH_MODULE(DownSampler);

// The decoder's layers (nn_layers/cnn_utils.py) keep theirs in a Sequential:
// BR as "br.0" (bn), "br.1" (act) ...
class DecoderBRImpl : public torch::nn::Module {
 public:
  explicit DecoderBRImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x) { return br_->forward(x); }

 private:
  torch::nn::Sequential br_{nullptr};
};
TORCH_MODULE(DecoderBR);

// ... and CBR as "cbr.0" (conv), "cbr.1" (bn), "cbr.2" (act).
class DecoderCBRImpl : public torch::nn::Module {
 public:
  DecoderCBRImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t groups = 1);
  torch::Tensor forward(const torch::Tensor& x) { return cbr_->forward(x); }

 private:
  torch::nn::Sequential cbr_{nullptr};
};
TORCH_MODULE(DecoderCBR);

// Channel shuffle over `groups` groups (no parameters).
class ShuffleImpl : public torch::nn::Module {
 public:
  explicit ShuffleImpl(int64_t groups) : groups_(groups) {}
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t groups_;
};
TORCH_MODULE(Shuffle);

// EfficientPyrPool: project to `proj` channels ("projection_layer"), a depth-wise
// 3x3 ("stages.i") at scales 2, 1.5, 1, 0.5, 0.1 of the map (sides rounded up,
// at least 5; bilinear resizes with align_corners, adaptive average pooling back),
// then "merge_layer" (BR, shuffle, group CBR, 1x1 conv) and, unless last, "br".
class EfficientPyrPoolImpl : public torch::nn::Module {
 public:
  EfficientPyrPoolImpl(int64_t in_channels, int64_t proj_channels, int64_t out_channels, bool last_layer_br = true);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  DecoderCBR projection_layer_{nullptr};
  std::vector<torch::nn::Conv2d> stages_;
  torch::nn::Sequential merge_layer_{nullptr};
  DecoderBR br_{nullptr};
};
TORCH_MODULE(EfficientPyrPool);

// EfficientPWConv: a group 3x3 CBR ("expansion_layer", gcd(in, out) groups) gated
// per channel by sigmoid(1x1 conv of the global average) ("wt_layer.1").
class EfficientPWConvImpl : public torch::nn::Module {
 public:
  EfficientPWConvImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential wt_layer_{nullptr};
  DecoderCBR expansion_layer_{nullptr};
};
TORCH_MODULE(EfficientPWConv);

struct EncoderOutputs {
  torch::Tensor level1;  // stride 2
  torch::Tensor level2;  // stride 4
  torch::Tensor level3;  // stride 8
  torch::Tensor level4;  // stride 16
};

// EESPNet up to level 4 (the segmentation network deletes level5 and the classifier).
class EESPNetImpl : public torch::nn::Module {
 public:
  explicit EESPNetImpl(const std::vector<int64_t>& channels);
  EncoderOutputs forward(const torch::Tensor& x);

 private:
  ConvBnPReLU level1_{nullptr};
  DownSampler level2_0_{nullptr}, level3_0_{nullptr}, level4_0_{nullptr};
  torch::nn::Sequential level3_{nullptr}, level4_{nullptr};
};
TORCH_MODULE(EESPNet);

// Output channels of levels 1-4 at width s (throws Error for an unsupported width).
std::vector<int64_t> level_channels(double width);

}  // namespace espnetv2

class ESPNetv2Impl : public SegmentationModelImpl {
 public:
  explicit ESPNetv2Impl(const ESPNetv2Options& options);

  // Logits at the input's size (the reference's final align_corners resize);
  // features = the stride-16 level-4 encoder output. For sides that are multiples
  // of 16 this is the reference function; for other sizes each decoder step
  // resizes to its skip connection's size (the reference's ×2 would not line up).
  SegOutput forward_features(const torch::Tensor& x) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  int64_t feature_channels() const override { return channels_[3]; }
  // The decoder: everything but base_net.
  std::vector<torch::Tensor> head_parameters() override;
  // espnetv2_s1, espnetv2_s2 (the table's names), espnetv2_s0.5, espnetv2_s1.5.
  std::string architecture() const override;

 private:
  ESPNetv2Options options_;
  std::vector<int64_t> channels_;
  espnetv2::EESPNet base_net_{nullptr};
  espnetv2::EfficientPyrPool bu_dec_l1_{nullptr}, bu_dec_l2_{nullptr}, bu_dec_l3_{nullptr}, bu_dec_l4_{nullptr};
  espnetv2::EfficientPWConv merge_enc_dec_l2_{nullptr}, merge_enc_dec_l3_{nullptr}, merge_enc_dec_l4_{nullptr};
  torch::nn::Sequential bu_br_l2_{nullptr}, bu_br_l3_{nullptr}, bu_br_l4_{nullptr};
};
TORCH_MODULE(ESPNetv2);

}  // namespace segtransfer
