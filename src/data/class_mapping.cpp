#include "data/class_mapping.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.h"

namespace segtransfer {

torch::Tensor map_probabilities(const ClassMapping& mapping, const torch::Tensor& probs) {
  if (probs.dim() != 3 && probs.dim() != 4)
    throw Error(
        fmt::format("map_probabilities: expected (C, H, W) or (N, C, H, W) probabilities, got {} dims", probs.dim()));
  const int64_t channel_dim = probs.dim() - 3;
  const auto num_source = static_cast<int64_t>(mapping.target_of.size());
  if (probs.size(channel_dim) != num_source)
    throw Error(fmt::format("map_probabilities: probabilities have {} classes but the mapping has {} source classes",
                            probs.size(channel_dim), num_source));
  std::vector<int64_t> kept_sources, their_targets;
  for (int64_t c = 0; c < num_source; ++c) {
    if (mapping.target_of[c] < 0) continue;  // dropped classes just vanish
    kept_sources.push_back(c);
    their_targets.push_back(mapping.target_of[c]);
  }
  const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(probs.device());
  const torch::Tensor sources = torch::tensor(kept_sources, index_options);
  const torch::Tensor targets = torch::tensor(their_targets, index_options);

  std::vector<int64_t> out_shape = probs.sizes().vec();
  out_shape[channel_dim] = mapping.num_target_classes;
  return torch::zeros(out_shape, probs.options())
      .index_add_(channel_dim, targets, probs.index_select(channel_dim, sources));
}

LabelSpace numbered_or_cityscapes_space(int num_classes) {
  if (num_classes == LabelSpace::cityscapes19().num_classes()) return LabelSpace::cityscapes19();
  LabelSpace space;
  space.name = fmt::format("{} classes (unnamed: refer to them by index)", num_classes);
  for (int c = 0; c < num_classes; ++c) space.classes.push_back(std::to_string(c));
  space.colours.assign(num_classes, cv::Vec3b(0, 0, 0));
  return space;
}

ClassMapping named_class_mapping(const std::string& name, int num_source, const LabelSpace& target,
                                 const std::string& key) {
  const ClassMapping mapping =
      name == "cityscapes_to_camvid"
          ? ClassMapping::cityscapes_to_camvid()
          : ClassMapping::from_yaml_file(name, numbered_or_cityscapes_space(num_source), target);
  if (static_cast<int>(mapping.target_of.size()) != num_source || mapping.num_target_classes != target.num_classes())
    throw Error(
        fmt::format("{}: '{}' maps {} classes onto {}, but there are {} classes to map and target space '{}' "
                    "has {}",
                    key, name, mapping.target_of.size(), mapping.num_target_classes, num_source, target.name,
                    target.num_classes()));
  return mapping;
}

ClassMapping eval_class_mapping(const std::string& name, int num_classes, const LabelSpace& space) {
  if (!name.empty()) return named_class_mapping(name, num_classes, space, "eval.mapping");
  if (num_classes != space.num_classes())
    throw Error(
        fmt::format("a {}-class model cannot be judged class for class in label space '{}' of {} classes: set "
                    "eval.mapping (cityscapes_to_camvid or a YAML file)",
                    num_classes, space.name, space.num_classes()));
  return ClassMapping::identity(num_classes);
}

torch::Tensor target_class_table(const ClassMapping& mapping, torch::Device device) {
  const std::vector<int64_t> target_of(mapping.target_of.begin(), mapping.target_of.end());
  return torch::tensor(target_of, torch::TensorOptions().dtype(torch::kLong)).to(device);
}

}  // namespace segtransfer
