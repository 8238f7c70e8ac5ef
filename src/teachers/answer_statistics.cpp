#include "teachers/answer_statistics.h"

#include "data/class_pixel_counts.h"

namespace segtransfer {

ClassStatistics answer_class_statistics(const PredictionStore& store, const SegDataset& images) {
  ClassStatistics stats;
  stats.num_classes = store.info().num_classes;
  stats.pixels.reserve(images.size());
  for (const SampleFiles& files : images.files()) {
    // The top-1 class is the first channel of each pixel.
    stats.pixels.push_back(class_pixel_counts(store.read(files.stem).classes, stats.num_classes));
  }
  return stats;
}

}  // namespace segtransfer
