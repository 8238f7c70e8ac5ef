// A white-box source model: a network of this project's zoo with its weights (a
// segtransfer run's model.pt or checkpoint, or a PyTorch state_dict archive),
// frozen — eval mode, no gradients — for the methods that read its features
// (dual_teacher) or start from it (stvm).
#pragma once
#include <string>

#include "models/model.h"

namespace segtransfer {

// Loads `weights` into `model`; an Error names `config_key` (the key that gave the file).
void load_weights_for_key(const std::string& config_key, const std::string& weights, SegmentationModelImpl& model);

// Throws Error naming `config_key` when `weights` is empty or does not fit `name`.
SegmentationModel load_frozen_model(const std::string& name, int64_t num_classes, const std::string& weights,
                                    torch::Device device, const std::string& config_key);

}  // namespace segtransfer
