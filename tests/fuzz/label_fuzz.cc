// libFuzzer target: label files as the datasets read them — any bytes as the label
// PNG of a Cityscapes (8-bit ids), SYNTHIA (16-bit, id in the first channel) or
// GTA5 (colour palette) sample, decoded and mapped to train ids.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <string>

#include "core/error.h"
#include "data/dataset.h"

namespace {

namespace fs = std::filesystem;

const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("segtransfer_label_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(d);
    cv::imwrite((d / "image.png").string(), cv::Mat(6, 8, CV_8UC3, cv::Scalar(10, 20, 30)));
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const fs::path label = scratch() / "label.png";
  {
    std::ofstream out(label, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  using segtransfer::IdMap;
  using segtransfer::LabelSpace;
  const std::vector<segtransfer::SampleFiles> files{{(scratch() / "image.png").string(), label.string(), "fuzz"}};
  try {
    switch (data[0] % 3) {
      case 0: {
        segtransfer::SegDataset ds("cityscapes", files, LabelSpace::cityscapes19(), IdMap::cityscapes_label_ids());
        ds.read(0);
        break;
      }
      case 1: {
        segtransfer::SegDataset ds("synthia", files, LabelSpace::cityscapes19(), IdMap::synthia(), true);
        ds.read(0);
        break;
      }
      default: {
        segtransfer::SegDataset ds("gta5", files, LabelSpace::cityscapes19(), IdMap::cityscapes_label_ids());
        std::vector<cv::Vec3b> palette;
        for (int id = 0; id < 34; ++id) palette.emplace_back(id * 7, 255 - id * 5, id * 3);
        ds.set_label_palette(palette);
        ds.read(0);
        break;
      }
    }
  } catch (const segtransfer::Error&) {
  }
  return 0;
}
