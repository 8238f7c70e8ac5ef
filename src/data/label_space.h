// Label spaces (class names, colours, ignore index), raw-id → train-id maps, and
// mappings between label spaces. OpenCV only: the probability mapping, which needs
// torch, lives in data/class_mapping.h.
#pragma once
#include <opencv2/core.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace segtransfer {

constexpr int kIgnoreIndex = 255;

struct LabelSpace {
  std::string name;
  std::vector<std::string> classes;
  std::vector<cv::Vec3b> colours;  // RGB, one per class
  int ignore_index = kIgnoreIndex;

  int num_classes() const { return static_cast<int>(classes.size()); }
  int class_index(const std::string& name) const;  // -1 if absent

  static LabelSpace cityscapes19();
  static LabelSpace camvid11();
  // YAML: {name: x, ignore_index: 255, classes: [{name: road, colour: [128,64,128]}, ...]}
  static LabelSpace from_yaml_file(const std::string& path);
  // "cityscapes19" | "cityscapes" | "camvid11" | "camvid" | path to a YAML file.
  static LabelSpace by_name(const std::string& name_or_path);
};

// Evaluation protocols: which class indices of the 19-class Cityscapes space are
// scored. "19" → all 19; "16" → SYNTHIA's 16 (no terrain, truck, train); "13" →
// those 16 minus wall, fence, pole. "" → every class of `space`.
std::vector<int> protocol_classes(const LabelSpace& space, const std::string& protocol);

// Raw dataset id → train id lookup table over 16-bit ids. Ids not in the map
// become the ignore index and are counted (the dataset reports them).
class IdMap {
 public:
  IdMap();  // identity on nothing: every id unknown
  static IdMap identity(int num_classes, std::vector<int> also_ignored = {kIgnoreIndex});
  static IdMap cityscapes_label_ids();  // Cityscapes/GTA5 labelIds → trainIds
  static IdMap synthia();               // SYNTHIA ids → Cityscapes trainIds
  static IdMap camvid();                // CamVid 0..10, 11 = void

  void set(int raw_id, int train_id);
  void ignore(int raw_id);  // a known id that maps to the ignore index (not counted)
  int lookup(int raw_id) const { return lut_[raw_id & 0xFFFF]; }
  bool known(int raw_id) const { return known_[raw_id & 0xFFFF]; }

  // raw: CV_8UC1 or CV_16UC1. Returns CV_8UC1 train ids. `unknown_pixels` (may be
  // null) receives the number of pixels whose id is not in the map; `unknown_ids`
  // (may be null) receives the distinct unknown ids seen.
  cv::Mat apply(const cv::Mat& raw, int64_t* unknown_pixels = nullptr, std::vector<int>* unknown_ids = nullptr) const;

 private:
  std::vector<uint8_t> lut_;
  std::vector<bool> known_;
};

// Many-to-one mapping of source classes onto target classes (e.g. Cityscapes 19 →
// CamVid 11). target_of[c] = target class of source class c, or -1 (dropped).
struct ClassMapping {
  std::vector<int> target_of;
  int num_target_classes = 0;

  static ClassMapping identity(int n);
  static ClassMapping cityscapes_to_camvid();
  // YAML: {num_target_classes: N, map: {<source idx or name>: <target idx or name>, ...}}
  static ClassMapping from_yaml_file(const std::string& path, const LabelSpace& source, const LabelSpace& target);
  cv::Mat apply_labels(const cv::Mat& labels) const;  // CV_8UC1; ignore stays ignore
};

// Colourise a train-id map (CV_8UC1) with the space's colours; ignore → black. Returns BGR.
cv::Mat colourise(const cv::Mat& labels, const LabelSpace& space);

}  // namespace segtransfer
