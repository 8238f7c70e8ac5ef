#include "teachers/white_box.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "models/weight_import.h"

namespace segtransfer {

void load_weights_for_key(const std::string& config_key, const std::string& weights, SegmentationModelImpl& model) {
  try {
    load_model_weights(weights, model);
  } catch (const Error& e) {
    throw Error(config_key + ": " + e.what());
  }
}

SegmentationModel load_frozen_model(const std::string& name, int64_t num_classes, const std::string& weights,
                                    torch::Device device, const std::string& config_key) {
  if (weights.empty())
    throw Error("config key '" + config_key +
                "' is empty: give the source model's weights (a source_only run's "
                "model.pt, or a PyTorch state_dict)");
  SegmentationModel model = make_model(name, num_classes);
  load_weights_for_key(config_key, weights, *model);
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  model->to(device);
  model->eval();
  spdlog::info("{}: frozen {} from {} ({:.2f} M parameters)", config_key, name, weights,
               count_parameters(*model) / 1e6);
  return model;
}

}  // namespace segtransfer
