#include "teachers/answer_statistics.h"

namespace segtransfer {

ClassStatistics answer_class_statistics(const PredictionStore& store, const SegDataset& images) {
  ClassStatistics stats;
  stats.num_classes = store.info().num_classes;
  stats.pixels.reserve(images.size());
  for (const SampleFiles& files : images.files()) {
    const StoredPrediction p = store.read(files.stem);
    const int k = p.classes.channels();  // the top-1 class is channel 0 of each pixel
    std::vector<int64_t> counts(stats.num_classes, 0);
    for (int y = 0; y < p.classes.rows; ++y) {
      const uint8_t* row = p.classes.ptr<uint8_t>(y);
      for (int x = 0; x < p.classes.cols; ++x)
        if (row[x * k] < stats.num_classes) ++counts[row[x * k]];
    }
    stats.pixels.push_back(std::move(counts));
  }
  return stats;
}

}  // namespace segtransfer
