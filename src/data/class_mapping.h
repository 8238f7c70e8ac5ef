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

}  // namespace segtransfer
