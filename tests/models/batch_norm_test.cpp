#include "models/batch_norm.h"

#include <gtest/gtest.h>

#include "models/model.h"

namespace segtransfer {
namespace {

// (BatchNorm layers in training mode, other modules in training mode) of `model`.
std::pair<int, int> training_counts(SegmentationModelImpl& model) {
  int batch_norm = 0, other = 0;
  for (const auto& m : model.modules()) {
    if (!m->is_training()) continue;
    if (m->as<BatchNorm2dImpl>())
      ++batch_norm;
    else
      ++other;
  }
  return {batch_norm, other};
}

// model.norm_eval's mode: BatchNorm in eval, the rest training; an evaluation inside
// an EvalModeScope puts everything in eval and leaves that mixed mode as it found it.
TEST(BatchNormModes, EvalModeScopeRestoresMixedModes) {
  auto model = make_model("lraspp_mobilenet_v3_small", 3);
  model->train();
  keep_batch_norm_statistics(*model);
  const auto [bn_before, other_before] = training_counts(*model);
  ASSERT_EQ(bn_before, 0);
  ASSERT_GT(other_before, 0);
  {
    EvalModeScope eval_mode(*model);
    EXPECT_EQ(training_counts(*model), std::make_pair(0, 0));
  }
  EXPECT_EQ(training_counts(*model), std::make_pair(0, other_before));
  // The plain train() that an evaluation used to end with would have undone norm_eval.
  model->train();
  EXPECT_GT(training_counts(*model).first, 0);
}

// After a model.init only the layers whose statistics the file brought stop estimating:
// a name set that holds one layer's running_mean puts that layer, and no other, in eval.
TEST(BatchNormModes, KeepsOnlyTheStatisticsOfTheLoadedLayers) {
  auto model = make_model("lraspp_mobilenet_v3_small", 3);
  model->train();
  std::string kept;
  for (const auto& item : model->named_modules())
    if (item.value()->as<BatchNorm2dImpl>()) {
      kept = item.key();
      break;
    }
  ASSERT_FALSE(kept.empty());
  const int batch_norm_layers = training_counts(*model).first;
  keep_batch_norm_statistics(*model, {kept + ".running_mean", kept + ".weight"});
  EXPECT_FALSE(model->named_modules()[kept]->is_training());
  EXPECT_EQ(training_counts(*model).first, batch_norm_layers - 1);
  // A file that brought only scales and shifts keeps no statistics.
  model->train();
  keep_batch_norm_statistics(*model, {kept + ".weight", kept + ".bias"});
  EXPECT_EQ(training_counts(*model).first, batch_norm_layers);
}

}  // namespace
}  // namespace segtransfer
