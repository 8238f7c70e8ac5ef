#include "models/espnet.h"

#include "core/error.h"

namespace segtransfer {

namespace espnet {

namespace {

// Every BatchNorm of the reference has eps 1e-3.
constexpr double kBnEps = 1e-3;

BatchNorm2d batch_norm(int64_t channels) { return BatchNorm2d(torch::nn::BatchNorm2dOptions(channels).eps(kBnEps)); }

ConvBnPReLU cbr(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1) {
  return ConvBnPReLU(ConvBlockOptions(in_channels, out_channels, kernel).stride(stride).bn_eps(kBnEps));
}

BnPReLU br(int64_t channels) { return BnPReLU(channels, kBnEps); }

// The reference's InputProjectionA: the image average-pooled `times` times.
torch::Tensor downsample_image(torch::Tensor image, int times) {
  for (int i = 0; i < times; ++i) image = torch::avg_pool2d(image, 3, 2, 1);
  return image;
}

}  // namespace

ConvImpl::ConvImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t dilation)
    : conv_(register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, kernel)
                                                          .stride(stride)
                                                          .padding((kernel - 1) / 2 * dilation)
                                                          .dilation(dilation)
                                                          .bias(false)))) {}

ESPBlockImpl::ESPBlockImpl(int64_t in_channels, int64_t out_channels, Kind kind) : kind_(kind) {
  // out = n1 + 4n channels: the d1 branch takes the remainder.
  const int64_t n = out_channels / 5;
  const int64_t n1 = out_channels - 4 * n;
  c1_ = register_module("c1", kind == Kind::kDownsampler ? Conv(in_channels, n, 3, 2) : Conv(in_channels, n, 1));
  for (int64_t dilation : {1, 2, 4, 8, 16}) {
    branches_.push_back(
        register_module("d" + std::to_string(dilation), Conv(n, dilation == 1 ? n1 : n, 3, 1, dilation)));
  }
  if (kind == Kind::kDownsampler) {
    downsampler_bn_ = register_module("bn", batch_norm(out_channels));
    downsampler_act_ = register_module("act", channel_prelu(out_channels));
  } else {
    br_ = register_module("bn", br(out_channels));
  }
}

torch::Tensor ESPBlockImpl::forward(const torch::Tensor& x) {
  const torch::Tensor reduced = c1_(x);
  // Hierarchical feature fusion: each dilated branch adds the previous sum
  // (de-gridding); d1 is concatenated as is.
  std::vector<torch::Tensor> merged = {branches_[0](reduced)};
  torch::Tensor sum = branches_[1](reduced);
  merged.push_back(sum);
  for (size_t i = 2; i < branches_.size(); ++i) {
    sum = sum + branches_[i](reduced);
    merged.push_back(sum);
  }
  torch::Tensor combined = torch::cat(merged, 1);
  if (kind_ == Kind::kDownsampler) return downsampler_act_(downsampler_bn_(combined));
  if (kind_ == Kind::kResidual) combined = combined + x;
  return br_(combined);
}

EncoderImpl::EncoderImpl(int64_t num_classes, int64_t p, int64_t q) {
  if (p < 1 || q < 1) {
    throw Error("espnet: p and q must be at least 1, got p=" + std::to_string(p) + ", q=" + std::to_string(q));
  }
  using Kind = ESPBlockImpl::Kind;
  level1_ = register_module("level1", cbr(3, 16, 3, 2));
  b1_ = register_module("b1", br(16 + 3));
  level2_0_ = register_module("level2_0", ESPBlock(16 + 3, 64, Kind::kDownsampler));
  level2_ = register_module("level2", torch::nn::Sequential());
  for (int64_t i = 0; i < p; ++i) level2_->push_back(ESPBlock(64, 64, Kind::kResidual));
  b2_ = register_module("b2", br(128 + 3));
  level3_0_ = register_module("level3_0", ESPBlock(128 + 3, 128, Kind::kDownsampler));
  level3_ = register_module("level3", torch::nn::Sequential());
  for (int64_t i = 0; i < q; ++i) level3_->push_back(ESPBlock(128, 128, Kind::kResidual));
  b3_ = register_module("b3", br(256));
  classifier = register_module("classifier", Conv(256, num_classes, 1));
}

EncoderOutputs EncoderImpl::forward(const torch::Tensor& x) {
  EncoderOutputs out;
  out.level1_conv = level1_(x);
  out.level1 = b1_(torch::cat({out.level1_conv, downsample_image(x, 1)}, 1));
  const torch::Tensor level2_first = level2_0_(out.level1);
  out.level2 = b2_(torch::cat({level2_->forward(level2_first), level2_first, downsample_image(x, 2)}, 1));
  const torch::Tensor level3_first = level3_0_(out.level2);
  out.level3 = b3_(torch::cat({level3_first, level3_->forward(level3_first)}, 1));
  return out;
}

}  // namespace espnet

ESPNetImpl::ESPNetImpl(const ESPNetOptions& options) : options_(options) {
  namespace nn = torch::nn;
  using espnet::ESPBlockImpl;
  const int64_t c = options.num_classes() + (options.background_output() ? 1 : 0);
  if (c < 5) {
    // combine_l2_l3's ESP block splits its C output channels over 5 branches.
    throw Error("espnet needs at least 5 classes, got " + std::to_string(c));
  }
  auto up2 = [c] { return nn::ConvTranspose2d(nn::ConvTranspose2dOptions(c, c, 2).stride(2).bias(false)); };
  encoder_ = register_module("encoder", espnet::Encoder(c, options.p(), options.q()));
  level3_C_ = register_module("level3_C", espnet::Conv(128 + 3, c, 1));
  br_ = register_module("br", BatchNorm2d(nn::BatchNorm2dOptions(c).eps(1e-3)));
  // The encoder's level-1 output: 16 + 3 channels, or its 16 conv channels alone.
  conv_ = register_module("conv", espnet::cbr((options.level1_conv_skip() ? 16 : 19) + c, c, 3));
  up_l3_ = register_module("up_l3", nn::Sequential(up2()));
  combine_l2_l3_ = register_module(
      "combine_l2_l3", nn::Sequential(espnet::br(2 * c), espnet::ESPBlock(2 * c, c, ESPBlockImpl::Kind::kPlain)));
  up_l2_ = register_module("up_l2", nn::Sequential(up2(), espnet::br(c)));
  classifier_ = register_module("classifier", up2());
}

SegOutput ESPNetImpl::forward_features(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(2) % 8 != 0 || x.size(3) % 8 != 0) {
    throw Error("espnet: input must be N x 3 x H x W with H and W multiples of 8, got " + c10::str(x.sizes()));
  }
  const espnet::EncoderOutputs enc = encoder_->forward(options_.bgr_input() ? x.flip(1) : x);
  // Reinforcement-upsampling (RUM) decoder: class maps from stride 8, fused with
  // stride-4 and stride-2 encoder outputs on the way up.
  const torch::Tensor level3_classes = up_l3_->forward(br_(encoder_->classifier(enc.level3)));
  const torch::Tensor level2_3 =
      up_l2_->forward(combine_l2_l3_->forward(torch::cat({level3_C_(enc.level2), level3_classes}, 1)));
  const torch::Tensor fused =
      conv_(torch::cat({level2_3, options_.level1_conv_skip() ? enc.level1_conv : enc.level1}, 1));
  const torch::Tensor logits = classifier_(fused);
  return {options_.background_output() ? logits.narrow(1, 0, options_.num_classes()) : logits, enc.level3};
}

std::vector<torch::Tensor> ESPNetImpl::head_parameters() {
  std::vector<torch::Tensor> head = encoder_->classifier->parameters();
  for (const auto& item : named_children()) {
    if (item.key() == "encoder") continue;
    for (const auto& p : item.value()->parameters()) head.push_back(p);
  }
  return head;
}

}  // namespace segtransfer
