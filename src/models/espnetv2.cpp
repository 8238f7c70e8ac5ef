#include "models/espnetv2.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>

#include "core/error.h"

namespace segtransfer {

namespace espnetv2 {

namespace {

namespace F = torch::nn::functional;

torch::nn::Conv2d conv(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
                       int64_t groups = 1, int64_t dilation = 1) {
  return same_padded_conv(
      ConvBlockOptions(in_channels, out_channels, kernel).stride(stride).groups(groups).dilation(dilation));
}

// Bilinear resize with align_corners = True (every resize of the reference).
torch::Tensor resize(const torch::Tensor& x, int64_t height, int64_t width) {
  return F::interpolate(
      x,
      F::InterpolateFuncOptions().size(std::vector<int64_t>{height, width}).mode(torch::kBilinear).align_corners(true));
}

// The reference's 3x3 / stride 2 / pad 1 average pooling (zeros counted).
torch::Tensor pool_image(const torch::Tensor& image) { return torch::avg_pool2d(image, 3, 2, 1); }

// The pyramid's scales, largest first (EfficientPyrPool sorts them so).
constexpr double kPyramidScales[] = {2.0, 1.5, 1.0, 0.5, 0.1};

// Input reinforcement maps the image to this many channels first (config_inp_reinf).
constexpr int64_t kReinforcementChannels = 3;
constexpr int64_t kBranches = 4;  // EESP branches at every level (espnetv2_config.branches)

}  // namespace

CDilatedImpl::CDilatedImpl(int64_t channels, int64_t stride, int64_t dilation)
    : conv_(register_module("conv", conv(channels, channels, 3, stride, channels, dilation))) {}

EESPImpl::EESPImpl(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t branches, int64_t receptive_limit)
    : stride_(stride) {
  const int64_t n = out_channels / branches;
  if (n * branches != out_channels) {
    throw Error("espnetv2: an EESP unit's " + std::to_string(out_channels) + " outputs do not split into " +
                std::to_string(branches) + " equal branches");
  }
  proj_1x1_ = register_module("proj_1x1", ConvBnPReLU(ConvBlockOptions(in_channels, n, 1).groups(branches)));
  // Branch i has a 3 + 2i receptive field (a 3x3 kernel dilated by i + 1), falling back
  // to 3 beyond the level's limit; sorted, so that equal 3x3 branches come first.
  std::vector<int64_t> kernel_sizes;
  for (int64_t i = 0; i < branches; ++i) {
    const int64_t size = 3 + 2 * i;
    kernel_sizes.push_back(size <= receptive_limit ? size : 3);
  }
  std::sort(kernel_sizes.begin(), kernel_sizes.end());
  auto spp_dw = register_module("spp_dw", torch::nn::ModuleList());
  for (int64_t size : kernel_sizes) {
    spp_dw_.push_back(CDilated(n, stride, (size - 1) / 2));
    spp_dw->push_back(spp_dw_.back());
  }
  conv_1x1_exp_ =
      register_module("conv_1x1_exp", ConvBn(ConvBlockOptions(out_channels, out_channels, 1).groups(branches)));
  br_after_cat_ = register_module("br_after_cat", BnPReLU(out_channels));
  module_act_ = register_module("module_act", channel_prelu(out_channels));
}

torch::Tensor EESPImpl::forward(const torch::Tensor& x) {
  torch::Tensor reduced = proj_1x1_(x);
  // oneDNN's strided, dilated depth-wise convolution is 2-3x slower channels-last than
  // NCHW (forward + backward, LibTorch 1.13, 2 threads: 100 vs 73 ms for the s2 model's
  // level-2 branches at 240x176, batch 8; docs/models.md), while every other convolution
  // here is faster channels-last. So a strided unit of a channels-last network runs its
  // branches in NCHW and returns to channels-last after the concatenation.
  const bool nchw_branches =
      stride_ == 2 && reduced.is_contiguous(torch::MemoryFormat::ChannelsLast) && !reduced.is_contiguous();
  if (nchw_branches) reduced = reduced.contiguous();
  // Split → transform → hierarchical feature fusion: each branch adds the previous one.
  std::vector<torch::Tensor> outputs = {spp_dw_[0](reduced)};
  for (size_t k = 1; k < spp_dw_.size(); ++k) outputs.push_back(spp_dw_[k](reduced) + outputs.back());
  torch::Tensor merged = torch::cat(outputs, 1);
  if (nchw_branches) merged = merged.contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor expanded = conv_1x1_exp_(br_after_cat_(merged));
  // Strided (inside a DownSampler): the DownSampler adds and activates.
  if (stride_ == 2) return expanded;
  if (expanded.sizes() == x.sizes()) expanded = expanded + x;
  return module_act_(expanded);
}

DownSamplerImpl::DownSamplerImpl(int64_t in_channels, int64_t out_channels, int64_t branches, int64_t receptive_limit)
    : eesp_(register_module("eesp", EESP(in_channels, out_channels - in_channels, 2, branches, receptive_limit))),
      inp_reinf_(register_module(
          "inp_reinf", torch::nn::Sequential(ConvBnPReLU(ConvBlockOptions(3, kReinforcementChannels, 3)),
                                             ConvBn(ConvBlockOptions(kReinforcementChannels, out_channels, 1))))),
      act_(register_module("act", channel_prelu(out_channels))) {}

torch::Tensor DownSamplerImpl::forward(const torch::Tensor& x, const torch::Tensor& image) {
  const torch::Tensor pooled = torch::avg_pool2d(x, 3, 2, 1);
  torch::Tensor out = torch::cat({pooled, eesp_(x)}, 1);
  if (image.size(2) != pooled.size(2) || image.size(3) != pooled.size(3)) {
    throw Error("espnetv2: the reinforcement image " + c10::str(image.sizes()) + " does not match the features " +
                c10::str(pooled.sizes()));
  }
  return act_(out + inp_reinf_->forward(image));
}

DecoderBRImpl::DecoderBRImpl(int64_t channels)
    : br_(register_module("br", torch::nn::Sequential(BatchNorm2d(channels), channel_prelu(channels)))) {}

DecoderCBRImpl::DecoderCBRImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t groups)
    : cbr_(register_module("cbr", torch::nn::Sequential(conv(in_channels, out_channels, kernel, 1, groups),
                                                        BatchNorm2d(out_channels), channel_prelu(out_channels)))) {}

torch::Tensor ShuffleImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.reshape({n, groups_, c / groups_, h, w}).transpose(1, 2).reshape({n, c, h, w});
}

EfficientPyrPoolImpl::EfficientPyrPoolImpl(int64_t in_channels, int64_t proj_channels, int64_t out_channels,
                                           bool last_layer_br) {
  const auto levels = static_cast<int64_t>(std::size(kPyramidScales));
  projection_layer_ = register_module("projection_layer", DecoderCBR(in_channels, proj_channels, 1));
  auto stages = register_module("stages", torch::nn::ModuleList());
  for (int64_t i = 0; i < levels; ++i) {
    stages_.push_back(conv(proj_channels, proj_channels, 3, 1, proj_channels));
    stages->push_back(stages_.back());
  }
  merge_layer_ = register_module(
      "merge_layer",
      torch::nn::Sequential(
          DecoderBR(proj_channels * levels), Shuffle(levels),
          DecoderCBR(proj_channels * levels, proj_channels, 3, proj_channels),
          torch::nn::Conv2d(torch::nn::Conv2dOptions(proj_channels, out_channels, 1).bias(!last_layer_br))));
  if (last_layer_br) br_ = register_module("br", DecoderBR(out_channels));
}

torch::Tensor EfficientPyrPoolImpl::forward(const torch::Tensor& input) {
  const torch::Tensor x = projection_layer_(input);
  const int64_t height = x.size(2), width = x.size(3);
  std::vector<torch::Tensor> levels;
  for (size_t i = 0; i < stages_.size(); ++i) {
    const double scale = kPyramidScales[i];
    // The reference's int(math.ceil(height * scale)) in double precision, at least 5.
    const auto h = std::max<int64_t>(static_cast<int64_t>(std::ceil(static_cast<double>(height) * scale)), 5);
    const auto w = std::max<int64_t>(static_cast<int64_t>(std::ceil(static_cast<double>(width) * scale)), 5);
    if (scale < 1.0) {
      levels.push_back(resize(stages_[i](torch::adaptive_avg_pool2d(x, {h, w})), height, width));
    } else if (scale > 1.0) {
      levels.push_back(torch::adaptive_avg_pool2d(stages_[i](resize(x, h, w)), {height, width}));
    } else {
      levels.push_back(stages_[i](x));
    }
  }
  const torch::Tensor out = merge_layer_->forward(torch::cat(levels, 1));
  return br_ ? br_(out) : out;
}

EfficientPWConvImpl::EfficientPWConvImpl(int64_t in_channels, int64_t out_channels)
    : wt_layer_(register_module(
          "wt_layer", torch::nn::Sequential(torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)),
                                            conv(in_channels, out_channels, 1), torch::nn::Sigmoid()))),
      expansion_layer_(register_module(
          "expansion_layer", DecoderCBR(in_channels, out_channels, 3, std::gcd(in_channels, out_channels)))) {}

torch::Tensor EfficientPWConvImpl::forward(const torch::Tensor& x) {
  return expansion_layer_(x) * wt_layer_->forward(x);
}

std::vector<int64_t> level_channels(double width) {
  // espnetv2_config.sc_ch_dict, levels 1-4 (level 5 and the classifier are not built).
  if (width == 0.5) return {16, 32, 64, 128};
  if (width == 1.0) return {32, 64, 128, 256};
  if (width == 1.5) return {32, 96, 192, 384};
  if (width == 2.0) return {32, 128, 256, 512};
  throw Error("espnetv2: width s must be 0.5, 1.0, 1.5 or 2.0, got " + std::to_string(width));
}

EESPNetImpl::EESPNetImpl(const std::vector<int64_t>& c) {
  // Receptive-field limits per level (recept_limit) and EESP repetitions (rep_layers).
  level1_ = register_module("level1", ConvBnPReLU(ConvBlockOptions(3, c[0], 3).stride(2)));
  level2_0_ = register_module("level2_0", DownSampler(c[0], c[1], kBranches, 13));
  level3_0_ = register_module("level3_0", DownSampler(c[1], c[2], kBranches, 11));
  level3_ = register_module("level3", torch::nn::Sequential());
  for (int i = 0; i < 3; ++i) level3_->push_back(EESP(c[2], c[2], 1, kBranches, 9));
  level4_0_ = register_module("level4_0", DownSampler(c[2], c[3], kBranches, 9));
  level4_ = register_module("level4", torch::nn::Sequential());
  for (int i = 0; i < 7; ++i) level4_->push_back(EESP(c[3], c[3], 1, kBranches, 7));
}

EncoderOutputs EESPNetImpl::forward(const torch::Tensor& x) {
  EncoderOutputs out;
  out.level1 = level1_(x);
  // Input reinforcement: the image average-pooled to each DownSampler's output size.
  torch::Tensor image = pool_image(pool_image(x));
  out.level2 = level2_0_(out.level1, image);
  image = pool_image(image);
  out.level3 = level3_->forward(level3_0_(out.level2, image));
  image = pool_image(image);
  out.level4 = level4_->forward(level4_0_(out.level3, image));
  return out;
}

}  // namespace espnetv2

ESPNetv2Impl::ESPNetv2Impl(const ESPNetv2Options& options)
    : options_(options), channels_(espnetv2::level_channels(options.width())) {
  using espnetv2::EfficientPWConv;
  using espnetv2::EfficientPyrPool;
  const int64_t classes = options.num_classes();
  if (classes < 2) throw Error("espnetv2 needs at least 2 classes, got " + std::to_string(classes));
  const int64_t base = options.decoder_planes();
  if (base < 1) throw Error("espnetv2: decoder_planes must be positive, got " + std::to_string(base));
  const int64_t dec[] = {4 * base, 3 * base, 2 * base};
  const int64_t proj = std::min(classes / 2, base);
  const auto& c = channels_;

  base_net_ = register_module("base_net", espnetv2::EESPNet(c));
  bu_dec_l1_ = register_module("bu_dec_l1", EfficientPyrPool(c[3], proj, dec[0]));
  bu_dec_l2_ = register_module("bu_dec_l2", EfficientPyrPool(dec[0], proj, dec[1]));
  bu_dec_l3_ = register_module("bu_dec_l3", EfficientPyrPool(dec[1], proj, dec[2]));
  bu_dec_l4_ = register_module("bu_dec_l4", EfficientPyrPool(dec[2], proj, classes, /*last_layer_br=*/false));
  merge_enc_dec_l2_ = register_module("merge_enc_dec_l2", EfficientPWConv(c[2], dec[0]));
  merge_enc_dec_l3_ = register_module("merge_enc_dec_l3", EfficientPWConv(c[1], dec[1]));
  merge_enc_dec_l4_ = register_module("merge_enc_dec_l4", EfficientPWConv(c[0], dec[2]));
  auto br = [](int64_t channels) {
    return torch::nn::Sequential(BatchNorm2d(channels),
                                 torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(channels)));
  };
  bu_br_l2_ = register_module("bu_br_l2", br(dec[0]));
  bu_br_l3_ = register_module("bu_br_l3", br(dec[1]));
  bu_br_l4_ = register_module("bu_br_l4", br(dec[2]));

  // The reference's init_params: convolutions Kaiming-normal (fan out), biases zero;
  // BatchNorm starts at weight 1, bias 0 already.
  torch::NoGradGuard no_grad;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(module.get())) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut);
      if (conv->bias.defined()) conv->bias.zero_();
    }
  }
}

SegOutput ESPNetv2Impl::forward_features(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3) {
    throw Error("espnetv2: input must be N x 3 x H x W, got " + c10::str(x.sizes()));
  }
  const espnetv2::EncoderOutputs enc = base_net_->forward(x);
  // Bottom-up decoding: ×2 (to the skip's size), add the gated projection of the
  // encoder level, BN + PReLU, pyramid pooling.
  auto up_to = [](const torch::Tensor& t, const torch::Tensor& like) {
    return espnetv2::resize(t, like.size(2), like.size(3));
  };
  torch::Tensor bu = bu_dec_l1_(enc.level4);
  bu = bu_dec_l2_(bu_br_l2_->forward(merge_enc_dec_l2_(enc.level3) + up_to(bu, enc.level3)));
  bu = bu_dec_l3_(bu_br_l3_->forward(merge_enc_dec_l3_(enc.level2) + up_to(bu, enc.level2)));
  bu = bu_dec_l4_(bu_br_l4_->forward(merge_enc_dec_l4_(enc.level1) + up_to(bu, enc.level1)));
  return {espnetv2::resize(bu, x.size(2), x.size(3)), enc.level4};
}

std::vector<torch::Tensor> ESPNetv2Impl::head_parameters() {
  std::vector<torch::Tensor> head;
  for (const auto& item : named_children()) {
    if (item.key() == "base_net") continue;
    for (const auto& p : item.value()->parameters()) head.push_back(p);
  }
  return head;
}

std::string ESPNetv2Impl::architecture() const {
  const double s = options_.width();
  if (s == 1.0) return "espnetv2_s1";
  if (s == 2.0) return "espnetv2_s2";
  return s == 0.5 ? "espnetv2_s0.5" : "espnetv2_s1.5";
}

}  // namespace segtransfer
