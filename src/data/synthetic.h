// The built-in two-domain synthetic street-scene generator (`segtransfer synth`).
// *source* looks like GTA5 next to Cityscapes: flat-shaded, saturated, sharp,
// uniform light. *target*: textured surfaces, another palette, camera height and
// field of view, sensor noise, blur, illumination change (some dusk), fog, JPEG
// artefacts, other class frequencies. Labels are Cityscapes train ids.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>

namespace segtransfer {

enum class SynthDomain { Source, Target };

struct SynthScene {
  cv::Mat image;  // CV_8UC3 BGR
  cv::Mat label;  // CV_8UC1 Cityscapes train ids (255 = ignore)
};

// Deterministic in (domain, seed, size).
SynthScene render_synthetic_scene(SynthDomain domain, uint64_t seed, cv::Size size);

struct SynthOptions {
  std::string out;  // root folder
  int source_train = 400, source_val = 100;
  int target_train = 400, target_val = 100;
  cv::Size size{320, 160};
  uint64_t seed = 0;
  int threads = 2;
};

// Writes <out>/source in the GTA5 layout (images/, labels/ with Cityscapes
// labelIds, plus train.txt / val.txt list files) and <out>/target in the
// Cityscapes layout (leftImg8bit/{train,val}/synth/, gtFine/... labelIds and
// labelTrainIds). Files are written atomically; an existing complete file is kept.
void write_synthetic_benchmark(const SynthOptions& options);

// Cityscapes trainId → labelId (for writing labelIds files).
int cityscapes_label_id_of_train_id(int train_id);

}  // namespace segtransfer
