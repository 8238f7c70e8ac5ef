#include "cli/model_loading.h"

#include "core/error.h"
#include "engine/checkpoint.h"

namespace segtransfer::cli {

SegmentationModel load_trained_model(const RunConfig& cfg, const std::string& run_dir, const std::string& weights,
                                     torch::Device device) {
  std::string path = weights;
  if (path.empty() && !run_dir.empty()) {
    path = run_dir + "/model.pt";
    if (!std::filesystem::exists(path)) path = run_dir + "/checkpoint.pt";
  }
  if (path.empty()) path = cfg.model.init;  // a published model evaluated as it is (e.g. a source model)
  if (path.empty()) throw Error("no weights: give --weights FILE or --run DIR (or set model.init)");
  SegmentationModel model = make_model(cfg.model.name, cfg.model.num_classes);
  load_model_weights(path, *model);
  model->to(device);
  model->eval();
  return model;
}

LabelSpace model_label_space(const RunConfig& cfg) {
  for (const DatasetSpec* spec : {&cfg.data.val, &cfg.data.source, &cfg.data.target}) {
    if (spec->empty()) continue;
    if (!spec->label_space.empty()) return LabelSpace::by_name(spec->label_space);
    return spec->type == "camvid" ? LabelSpace::camvid11() : LabelSpace::cityscapes19();
  }
  return cfg.model.num_classes == 11 ? LabelSpace::camvid11() : LabelSpace::cityscapes19();
}

}  // namespace segtransfer::cli
