#include "models/model.h"

#include <unordered_set>

#include "core/error.h"
#include "models/deeplabv2.h"
#include "models/deeplabv3.h"
#include "models/espnet.h"
#include "models/espnetv2.h"
#include "models/lraspp.h"

namespace segtransfer {

torch::Tensor SegmentationModelImpl::forward(const torch::Tensor& x) { return forward_upsampled(x).logits; }

SegOutput SegmentationModelImpl::forward_upsampled(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3) {
    throw Error(architecture() + ": expected an N x 3 x H x W image batch, got " + c10::str(x.sizes()));
  }
  SegOutput out = forward_features(x);
  const auto input_size = x.sizes().slice(2);
  if (out.logits.sizes().slice(2) != input_size)
    out.logits = torch::nn::functional::interpolate(out.logits, torch::nn::functional::InterpolateFuncOptions()
                                                                    .size(input_size.vec())
                                                                    .mode(torch::kBilinear)
                                                                    .align_corners(false));
  return out;
}

std::vector<torch::Tensor> SegmentationModelImpl::backbone_parameters() {
  std::unordered_set<const c10::TensorImpl*> head;
  for (const auto& p : head_parameters()) head.insert(p.unsafeGetTensorImpl());
  std::vector<torch::Tensor> rest;
  for (const auto& p : parameters()) {
    if (!head.count(p.unsafeGetTensorImpl())) rest.push_back(p);
  }
  return rest;
}

const std::vector<ModelInfo>& available_models() {
  static const std::vector<ModelInfo> models = {
      {"lraspp_mobilenet_v3_small",
       "LR-ASPP on a dilated MobileNetV3-Small (torchvision construction), output stride 8", true,
       [](int64_t c) { return LRASPP(LRASPPOptions(c).variant(MobileNetV3Variant::kSmall)).ptr(); }},
      {"lraspp_mobilenet_v3_large",
       "LR-ASPP on a dilated MobileNetV3-Large (torchvision lraspp_mobilenet_v3_large), output stride 8", true,
       [](int64_t c) { return LRASPP(LRASPPOptions(c).variant(MobileNetV3Variant::kLarge)).ptr(); }},
      {"espnet", "ESPNet (Mehta et al. 2018, p=2, q=8) with its RUM decoder, full-resolution output", true,
       [](int64_t c) { return ESPNet(ESPNetOptions(c)).ptr(); }},
      {"espnet_city",
       "ESPNet (p=2, q=3) as published for Cityscapes (espnet_p_2_q_3_city.pth): BGR input, its background output "
       "dropped; data.mean/std as in configs/camvid/espnet_city.yaml",
       true,
       [](int64_t c) {
         return ESPNet(ESPNetOptions(c).q(3).background_output(true).bgr_input(true).level1_conv_skip(true)).ptr();
       }},
      {"espnetv2_s0.5",
       "ESPNetv2 (Mehta et al. 2019, width s=0.5) with its EfficientPyrPool decoder (EdgeNets), full-resolution "
       "output",
       true, [](int64_t c) { return ESPNetv2(ESPNetv2Options(c).width(0.5)).ptr(); }},
      {"espnetv2_s1",
       "ESPNetv2 (Mehta et al. 2019, width s=1.0) with its EfficientPyrPool decoder (EdgeNets), full-resolution "
       "output; loads espnetv2_s_1.0_pascal_384x384.pth (21 classes)",
       true, [](int64_t c) { return ESPNetv2(ESPNetv2Options(c).width(1.0)).ptr(); }},
      {"espnetv2_s1.5",
       "ESPNetv2 (Mehta et al. 2019, width s=1.5) with its EfficientPyrPool decoder (EdgeNets), full-resolution "
       "output",
       true, [](int64_t c) { return ESPNetv2(ESPNetv2Options(c).width(1.5)).ptr(); }},
      {"espnetv2_s2",
       "ESPNetv2 (Mehta et al. 2019, width s=2.0) with its EfficientPyrPool decoder (EdgeNets), full-resolution "
       "output; loads espnetv2_s_2.0_pascal_384x384.pth (21 classes)",
       true, [](int64_t c) { return ESPNetv2(ESPNetv2Options(c).width(2.0)).ptr(); }},
      {"deeplabv3_resnet50",
       "DeepLabV3 on a dilated ResNet-50 (torchvision deeplabv3_resnet50, no aux head), output stride 8", false,
       [](int64_t c) { return DeepLabV3(DeepLabV3Options(c)).ptr(); }},
      {"deeplabv2_resnet101",
       "DeepLab-V2 on a dilated ResNet-101 with the 4-rate ASPP classifier (AdaptSegNet/DACS), output stride 8", false,
       [](int64_t c) { return DeepLabV2(DeepLabV2Options(c)).ptr(); }},
  };
  return models;
}

const ModelInfo& model_info(const std::string& name) {
  for (const auto& info : available_models())
    if (info.name == name) return info;
  std::string names;
  for (const auto& info : available_models()) names += (names.empty() ? "" : ", ") + info.name;
  throw Error("unknown model '" + name + "' (available: " + names + ")");
}

SegmentationModel make_model(const std::string& name, int64_t num_classes) {
  const ModelInfo& info = model_info(name);
  if (num_classes < 1) {
    throw Error("model '" + name + "': num_classes must be positive, got " + std::to_string(num_classes));
  }
  return info.make(num_classes);
}

int64_t count_parameters(torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

void use_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

}  // namespace segtransfer
