// Rare-class sampling of unlabelled target images (data/rare_class_sampling.h),
// driven by a black box's stored answers instead of labels: an image's class
// pixel counts are those of its answer's top-1 class.
#pragma once
#include "data/dataset.h"
#include "data/rare_class_sampling.h"
#include "teachers/prediction_store.h"

namespace segtransfer {

// Per image of `images` (in order), the pixels of each class its stored answer
// ranks first; pixels the answer marks ignore (255) count for no class. A
// label-only answer counts its labels. Classes are the store's. Reads every
// entry once (Error naming the file of a missing or corrupt one); no cache.
ClassStatistics answer_class_statistics(const PredictionStore& store, const SegDataset& images);

}  // namespace segtransfer
