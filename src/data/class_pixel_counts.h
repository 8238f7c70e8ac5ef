// Pixels per class of a class-id image: a label, or a stored answer's top-k ids
// (the first channel of each pixel is counted). Ids ≥ num_classes (255 = ignore)
// count for no class.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

namespace segtransfer {

inline std::vector<int64_t> class_pixel_counts(const cv::Mat& ids, int num_classes) {
  std::vector<int64_t> counts(num_classes, 0);
  const int step = ids.channels();
  for (int y = 0; y < ids.rows; ++y) {
    const uint8_t* row = ids.ptr<uint8_t>(y);
    for (int x = 0; x < ids.cols; ++x)
      if (row[x * step] < num_classes) ++counts[row[x * step]];
  }
  return counts;
}

}  // namespace segtransfer
