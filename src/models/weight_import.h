// Loading PyTorch state_dict archives (`torch.save(model.state_dict(), f)`, the
// zip format) into our modules by parameter/buffer name.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/model.h"

namespace segtransfer {

struct ImportReport {
  std::vector<std::string> loaded;
  std::vector<std::string> missing;     // in the model, not in the archive
  std::vector<std::string> unexpected;  // in the archive, not in the model
  std::vector<std::string> mismatched;  // same name, other shape: "name: archive [..] vs model [..]"
  // How the archive's names were read, when not as they are (a torchvision layout).
  std::string layout;
  // The modules whose tensors differ only in their first dimension, the class count:
  // they start fresh ("classifier.low_classifier"), and the two class counts.
  std::vector<std::string> fresh_for_classes;
  int64_t classes_in_archive = 0, classes_here = 0;
  std::string summary() const;  // multi-line human report
};

// Reads the archive into a name → tensor list. Accepts a state_dict, or a dict
// with a "state_dict"/"model" entry. Strips a leading "module." (DataParallel).
// Throws Error naming the file when it is unreadable or not such an archive.
std::vector<std::pair<std::string, torch::Tensor>> read_state_dict(const std::string& path);

// Copies every matching tensor into module's parameters and buffers (no grad).
// The archive may be in a torchvision layout: an ImageNet classifier (MobileNetV3's
// features.* read as LR-ASPP's backbone.*, a ResNet read under DeepLabV3's backbone.*
// or at DeepLab-V2's top level; the 1000-class head dropped) or a segmentation
// checkpoint with an auxiliary head (dropped); the renaming matching most tensors wins
// and the report says which. strict: throw Error if anything is missing, unexpected or
// mis-shaped.
ImportReport import_state_dict(torch::nn::Module& module, const std::string& path, bool strict = false);
ImportReport import_state_dict(torch::nn::Module& module,
                               const std::vector<std::pair<std::string, torch::Tensor>>& entries, bool strict = false);

// Writes module's state_dict in the same format (readable by torch.load in Python).
void save_state_dict(torch::nn::Module& module, const std::string& path);

// Loads only the model weights (for eval/predict, a white-box teacher) from a
// training checkpoint (the model under "model") or a state_dict archive (.pt written
// by save_state_dict / torch.save), strictly.
void load_model_weights(const std::string& path, SegmentationModelImpl& model);

}  // namespace segtransfer
