// The probability side of ClassMapping: sums the probabilities of the source
// classes that map onto each target class.
#pragma once
#include <torch/types.h>

#include <string>

#include "data/label_space.h"

namespace segtransfer {

// probs: (C_src, H, W) or (N, C_src, H, W); returns the same rank with C_tgt channels.
torch::Tensor map_probabilities(const ClassMapping& mapping, const torch::Tensor& probs);

// The source side of a mapping with `num_classes` classes: Cityscapes' names when there
// are 19, else classes named by index (what a mapping file's keys then refer to).
LabelSpace numbered_or_cityscapes_space(int num_classes);

// The mapping a config key names ("cityscapes_to_camvid" or a YAML file) from
// `num_source` classes onto `target`; an Error names `key` when the sizes disagree.
ClassMapping named_class_mapping(const std::string& name, int num_source, const LabelSpace& target,
                                 const std::string& key);

// How a `num_classes`-class model's predictions are judged in `space`: through the
// mapping config key eval.mapping names (`name`), or class for class when it is empty,
// which needs as many classes on both sides (an Error otherwise says to set it).
ClassMapping eval_class_mapping(const std::string& name, int num_classes, const LabelSpace& space);

// target_of as a (num_source) int64 tensor on `device`: indexed with source classes, it
// gives their target classes (-1: none).
torch::Tensor target_class_table(const ClassMapping& mapping, torch::Device device = torch::kCPU);

}  // namespace segtransfer
