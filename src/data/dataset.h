// Dataset readers for the real layouts (see docs/datasets.md): Cityscapes, GTA5,
// SYNTHIA, CamVid (SegNet layout), ACDC, and a generic images/ + labels/ folder.
// A dataset is a list of (image, optional label) files plus the id map that turns
// the label file's ids into train ids of its label space.
#pragma once
#include <opencv2/core.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/label_space.h"

namespace segtransfer {

struct SampleFiles {
  std::string image;  // path
  std::string label;  // path, empty when unlabelled
  std::string stem;   // name used for outputs (e.g. "aachen_000000_000019")
};

struct Sample {
  cv::Mat image;  // CV_8UC3, BGR
  cv::Mat label;  // CV_8UC1 train ids (255 = ignore); empty when unlabelled
  std::string stem;
  cv::Mat aux;  // CV_8UC(n) per-pixel extras aligned with the image (stored black-box answers); may be empty
};

// Reads the per-pixel extras of one sample (e.g. its stored black-box answer) at
// the image's size. Must be thread-safe.
using AuxReader = std::function<cv::Mat(const SampleFiles& files, cv::Size image_size)>;

class SegDataset {
 public:
  SegDataset(std::string description, std::vector<SampleFiles> files, LabelSpace space, IdMap id_map,
             bool label_is_16bit_first_channel = false);

  size_t size() const { return files_.size(); }
  bool has_labels() const { return !files_.empty() && !files_.front().label.empty(); }
  const LabelSpace& label_space() const { return space_; }
  const std::vector<SampleFiles>& files() const { return files_; }
  const std::string& description() const { return description_; }

  // Reads image, label and aux. Throws Error naming the file if unreadable or if the
  // label's (aux's) size differs from the image's. Thread-safe.
  Sample read(size_t index) const;
  cv::Mat read_image(size_t index) const;

  // Colours of the raw ids (RGB, indexed by raw id) for labels stored as indexed-colour
  // PNGs (GTA5): OpenCV expands the palette, so colour label files are mapped back to
  // raw ids through it (the first id of a repeated colour wins).
  void set_label_palette(std::vector<cv::Vec3b> rgb_by_raw_id) { label_palette_ = std::move(rgb_by_raw_id); }

  // Every sample read from now on carries `channels` aux channels from `reader`.
  void set_aux_reader(AuxReader reader, int channels) { aux_reader_ = std::move(reader), aux_channels_ = channels; }
  int aux_channels() const { return aux_reader_ ? aux_channels_ : 0; }

  // Pixels whose raw id was not in the id map (mapped to ignore), over all reads.
  int64_t unknown_id_pixels() const { return unknown_pixels_.load(); }
  std::vector<int> unknown_ids() const;
  std::string unknown_id_report() const;  // "" if none

 private:
  std::string description_;
  std::vector<SampleFiles> files_;
  LabelSpace space_;
  IdMap id_map_;
  bool label_16bit_first_channel_;
  std::vector<cv::Vec3b> label_palette_;
  AuxReader aux_reader_;
  int aux_channels_ = 0;
  mutable std::atomic<int64_t> unknown_pixels_{0};
  mutable std::mutex unknown_mutex_;
  mutable std::set<int> unknown_ids_;
};

// Builds a dataset from a spec. Errors (one line, naming the path): missing root
// or split folder, no images found, an image without its label (when labels are
// wanted), a list-file entry that does not exist.
std::shared_ptr<SegDataset> open_dataset(const DatasetSpec& spec);

// Reads an image as BGR 8-bit; throws Error naming the file when unreadable.
cv::Mat read_image_bgr(const std::string& path);

// Encodes `image` as PNG and writes it atomically; throws Error naming the file.
void write_png_atomically(const std::string& path, const cv::Mat& image);

}  // namespace segtransfer
