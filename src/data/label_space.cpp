#include "data/label_space.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "core/error.h"

namespace segtransfer {
namespace {

constexpr int kNumRawIds = 1 << 16;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

YAML::Node load_yaml_file(const std::string& path, const std::string& what) {
  if (!std::filesystem::is_regular_file(path)) throw Error(fmt::format("{} file '{}' does not exist", what, path));
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("cannot parse {} file '{}': {}", what, path, e.what()));
  }
}

// Reads a YAML scalar as an int; false when it is not one.
bool scalar_as_int(const YAML::Node& node, int* value) {
  if (!node.IsScalar()) return false;
  try {
    *value = node.as<int>();
    return true;
  } catch (const YAML::Exception&) {
    return false;
  }
}

// Resolves a class given by index or by name in `space`; -1 when neither.
int resolve_class(const YAML::Node& node, const LabelSpace& space) {
  int index = 0;
  if (scalar_as_int(node, &index)) return (index >= 0 && index < space.num_classes()) ? index : -1;
  return node.IsScalar() ? space.class_index(node.Scalar()) : -1;
}

std::string node_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

}  // namespace

int LabelSpace::class_index(const std::string& class_name) const {
  auto it = std::find(classes.begin(), classes.end(), class_name);
  return it == classes.end() ? -1 : static_cast<int>(it - classes.begin());
}

LabelSpace LabelSpace::cityscapes19() {
  LabelSpace s;
  s.name = "cityscapes19";
  s.classes = {"road",         "sidewalk",   "building", "wall",       "fence",  "pole",  "traffic light",
               "traffic sign", "vegetation", "terrain",  "sky",        "person", "rider", "car",
               "truck",        "bus",        "train",    "motorcycle", "bicycle"};
  s.colours = {{128, 64, 128},  {244, 35, 232}, {70, 70, 70},  {102, 102, 156}, {190, 153, 153},
               {153, 153, 153}, {250, 170, 30}, {220, 220, 0}, {107, 142, 35},  {152, 251, 152},
               {70, 130, 180},  {220, 20, 60},  {255, 0, 0},   {0, 0, 142},     {0, 0, 70},
               {0, 60, 100},    {0, 80, 100},   {0, 0, 230},   {119, 11, 32}};
  return s;
}

LabelSpace LabelSpace::camvid11() {
  LabelSpace s;
  s.name = "camvid11";
  s.classes = {"Sky",        "Building", "Pole", "Road",       "Pavement", "Tree",
               "SignSymbol", "Fence",    "Car",  "Pedestrian", "Bicyclist"};
  s.colours = {{128, 128, 128}, {128, 0, 0},   {192, 192, 128}, {128, 64, 128}, {60, 40, 222}, {128, 128, 0},
               {192, 128, 128}, {64, 64, 128}, {64, 0, 128},    {64, 64, 0},    {0, 128, 192}};
  return s;
}

LabelSpace LabelSpace::from_yaml_file(const std::string& path) {
  const YAML::Node root = load_yaml_file(path, "label space");
  auto fail = [&](const std::string& entry, const std::string& why) {
    return Error(fmt::format("label space file '{}': {}: {}", path, entry, why));
  };
  if (!root.IsMap()) throw fail("top level", "expected a map {name, ignore_index, classes}");
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (key != "name" && key != "ignore_index" && key != "classes")
      throw fail(key, "unknown key (expected name, ignore_index, classes)");
  }

  LabelSpace s;
  s.name = root["name"] ? root["name"].Scalar() : std::filesystem::path(path).stem().string();
  if (root["ignore_index"] && !scalar_as_int(root["ignore_index"], &s.ignore_index))
    throw fail("ignore_index", fmt::format("'{}' is not an integer", node_text(root["ignore_index"])));

  const YAML::Node classes = root["classes"];
  if (!classes || !classes.IsSequence() || classes.size() == 0)
    throw fail("classes", "expected a non-empty list of {name: ..., colour: [r, g, b]}");
  for (size_t i = 0; i < classes.size(); ++i) {
    const YAML::Node c = classes[i];
    const std::string entry = fmt::format("classes[{}]", i);
    if (!c.IsMap() || !c["name"] || !c["name"].IsScalar() || c["name"].Scalar().empty())
      throw fail(entry, fmt::format("'{}' needs a name", node_text(c)));
    const std::string class_name = c["name"].Scalar();
    const std::string named_entry = fmt::format("{} ({})", entry, class_name);
    if (s.class_index(class_name) >= 0) throw fail(named_entry, "duplicate class name");
    const YAML::Node colour = c["colour"] ? c["colour"] : c["color"];
    cv::Vec3b rgb;
    bool colour_ok = colour && colour.IsSequence() && colour.size() == 3;
    for (int k = 0; colour_ok && k < 3; ++k) {
      int v = 0;
      colour_ok = scalar_as_int(colour[k], &v) && v >= 0 && v <= 255;
      rgb[k] = static_cast<uchar>(v);
    }
    if (!colour_ok)
      throw fail(named_entry, fmt::format("colour must be [r, g, b] with values 0..255, got '{}'",
                                          colour ? node_text(colour) : "nothing"));
    s.classes.push_back(class_name);
    s.colours.push_back(rgb);
  }
  // Train ids are stored in 8-bit maps, and the ignore index must not be a class.
  if (s.ignore_index < s.num_classes() || s.ignore_index > 255)
    throw fail("ignore_index",
               fmt::format("{} must be in [{}, 255] ({} classes)", s.ignore_index, s.num_classes(), s.num_classes()));
  return s;
}

LabelSpace LabelSpace::by_name(const std::string& name_or_path) {
  if (name_or_path == "cityscapes19" || name_or_path == "cityscapes") return cityscapes19();
  if (name_or_path == "camvid11" || name_or_path == "camvid") return camvid11();
  if (ends_with(name_or_path, ".yaml") || ends_with(name_or_path, ".yml")) return from_yaml_file(name_or_path);
  throw Error(fmt::format("unknown label space '{}' (expected cityscapes19, camvid11 or a .yaml file)", name_or_path));
}

std::vector<int> protocol_classes(const LabelSpace& space, const std::string& protocol) {
  std::vector<int> all(space.num_classes());
  for (int c = 0; c < space.num_classes(); ++c) all[c] = c;
  if (protocol.empty()) return all;
  if (protocol != "19" && protocol != "16" && protocol != "13")
    throw Error(fmt::format("unknown evaluation protocol '{}' (expected \"\", 19, 16 or 13)", protocol));
  if (space.classes != LabelSpace::cityscapes19().classes)
    throw Error(fmt::format("evaluation protocol '{}' needs the 19-class Cityscapes label space, not '{}' ({} classes)",
                            protocol, space.name, space.num_classes()));
  std::set<int> excluded;
  if (protocol == "16" || protocol == "13") excluded = {9, 14, 16};  // terrain, truck, train
  if (protocol == "13") excluded.insert({3, 4, 5});                  // wall, fence, pole
  std::vector<int> scored;
  std::copy_if(all.begin(), all.end(), std::back_inserter(scored), [&](int c) { return !excluded.count(c); });
  return scored;
}

IdMap::IdMap() : lut_(kNumRawIds, kIgnoreIndex), known_(kNumRawIds, false) {}

IdMap IdMap::identity(int num_classes, std::vector<int> also_ignored) {
  IdMap m;
  for (int c = 0; c < num_classes; ++c) m.set(c, c);
  for (int id : also_ignored) m.ignore(id);
  return m;
}

IdMap IdMap::cityscapes_label_ids() {
  IdMap m;
  // Every Cityscapes labelId (0..33, and -1 license plate, which 8-bit files store as 255) is known.
  for (int id = 0; id <= 33; ++id) m.ignore(id);
  m.ignore(-1);
  m.ignore(255);
  const int label_ids[] = {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33};
  for (int train_id = 0; train_id < 19; ++train_id) m.set(label_ids[train_id], train_id);
  return m;
}

IdMap IdMap::synthia() {
  IdMap m;
  for (int id = 0; id <= 22; ++id) m.ignore(id);
  const std::pair<int, int> synthia_to_train[] = {{3, 0},  {4, 1},   {2, 2},   {21, 3}, {5, 4},   {7, 5},
                                                  {15, 6}, {9, 7},   {6, 8},   {1, 10}, {10, 11}, {17, 12},
                                                  {8, 13}, {19, 15}, {12, 17}, {11, 18}};
  for (const auto& [raw, train] : synthia_to_train) m.set(raw, train);
  return m;
}

IdMap IdMap::camvid() { return identity(11, {11}); }

void IdMap::set(int raw_id, int train_id) {
  if (raw_id < 0 || raw_id >= kNumRawIds || train_id < 0 || train_id > 255)
    throw Error(
        fmt::format("IdMap: cannot map raw id {} to train id {} (raw 0..65535, train 0..255)", raw_id, train_id));
  lut_[raw_id] = static_cast<uint8_t>(train_id);
  known_[raw_id] = true;
}

void IdMap::ignore(int raw_id) {
  lut_[raw_id & 0xFFFF] = kIgnoreIndex;
  known_[raw_id & 0xFFFF] = true;
}

cv::Mat IdMap::apply(const cv::Mat& raw, int64_t* unknown_pixels, std::vector<int>* unknown_ids) const {
  if (raw.type() != CV_8UC1 && raw.type() != CV_16UC1)
    throw Error(fmt::format("IdMap: label ids must be CV_8UC1 or CV_16UC1, got {}", cv::typeToString(raw.type())));
  cv::Mat out(raw.size(), CV_8UC1);
  int64_t unknown_count = 0;
  std::set<int> unknown_seen;
  if (raw.type() == CV_8UC1) {
    cv::LUT(raw, cv::Mat(1, 256, CV_8UC1, const_cast<uint8_t*>(lut_.data())), out);
    if (unknown_pixels || unknown_ids) {
      cv::Mat hist;
      const int bins = 256;
      const float range[] = {0, 256};
      const float* ranges[] = {range};
      cv::calcHist(&raw, 1, nullptr, cv::Mat(), hist, 1, &bins, ranges);
      for (int id = 0; id < 256; ++id) {
        const auto n = static_cast<int64_t>(hist.at<float>(id));
        if (n > 0 && !known_[id]) {
          unknown_count += n;
          unknown_seen.insert(id);
        }
      }
    }
  } else {
    // No 16-bit LUT in OpenCV: one pass that also tallies the unknown ids.
    for (int y = 0; y < raw.rows; ++y) {
      const uint16_t* src = raw.ptr<uint16_t>(y);
      uint8_t* dst = out.ptr<uint8_t>(y);
      for (int x = 0; x < raw.cols; ++x) {
        dst[x] = lut_[src[x]];
        if (!known_[src[x]]) {
          ++unknown_count;
          unknown_seen.insert(src[x]);
        }
      }
    }
  }
  if (unknown_pixels) *unknown_pixels = unknown_count;
  if (unknown_ids) unknown_ids->assign(unknown_seen.begin(), unknown_seen.end());
  return out;
}

ClassMapping ClassMapping::identity(int n) {
  ClassMapping m;
  m.num_target_classes = n;
  for (int c = 0; c < n; ++c) m.target_of.push_back(c);
  return m;
}

ClassMapping ClassMapping::cityscapes_to_camvid() {
  // CamVid: Sky 0, Building 1, Pole 2, Road 3, Pavement 4, Tree 5, SignSymbol 6, Fence 7,
  // Car 8, Pedestrian 9, Bicyclist 10 (docs/datasets.md).
  ClassMapping m;
  m.num_target_classes = 11;
  m.target_of = {3,    // road
                 4,    // sidewalk
                 1,    // building
                 1,    // wall
                 7,    // fence
                 2,    // pole
                 6,    // traffic light
                 6,    // traffic sign
                 5,    // vegetation
                 5,    // terrain
                 0,    // sky
                 9,    // person
                 10,   // rider
                 8,    // car
                 8,    // truck
                 8,    // bus
                 8,    // train
                 10,   // motorcycle
                 10};  // bicycle
  return m;
}

ClassMapping ClassMapping::from_yaml_file(const std::string& path, const LabelSpace& source, const LabelSpace& target) {
  const YAML::Node root = load_yaml_file(path, "class mapping");
  auto fail = [&](const std::string& entry, const std::string& why) {
    return Error(fmt::format("class mapping file '{}': {}: {}", path, entry, why));
  };
  if (!root.IsMap()) throw fail("top level", "expected a map {num_target_classes, map}");
  ClassMapping m;
  m.num_target_classes = target.num_classes();
  if (root["num_target_classes"]) {
    int n = 0;
    if (!scalar_as_int(root["num_target_classes"], &n) || n != target.num_classes())
      throw fail("num_target_classes",
                 fmt::format("'{}' does not match the {} classes of target space '{}'",
                             node_text(root["num_target_classes"]), target.num_classes(), target.name));
  }
  const YAML::Node map = root["map"];
  if (!map || !map.IsMap()) throw fail("map", "expected a map {<source class>: <target class>, ...}");
  // Source classes that are not listed are dropped (-1).
  m.target_of.assign(source.num_classes(), -1);
  std::vector<bool> listed(source.num_classes(), false);
  for (const auto& kv : map) {
    const std::string entry = fmt::format("map entry '{}: {}'", node_text(kv.first), node_text(kv.second));
    const int src = resolve_class(kv.first, source);
    if (src < 0) throw fail(entry, fmt::format("no source class '{}' in '{}'", node_text(kv.first), source.name));
    if (listed[src]) throw fail(entry, fmt::format("source class '{}' is mapped twice", source.classes[src]));
    listed[src] = true;
    int dst = 0;
    if (scalar_as_int(kv.second, &dst) && dst == -1) continue;  // explicitly dropped
    dst = resolve_class(kv.second, target);
    if (dst < 0)
      throw fail(entry,
                 fmt::format("no target class '{}' in '{}' (use -1 to drop)", node_text(kv.second), target.name));
    m.target_of[src] = dst;
  }
  return m;
}

cv::Mat ClassMapping::apply_labels(const cv::Mat& labels) const {
  if (labels.type() != CV_8UC1)
    throw Error(fmt::format("ClassMapping: labels must be CV_8UC1, got {}", cv::typeToString(labels.type())));
  cv::Mat lut(1, 256, CV_8UC1, cv::Scalar(kIgnoreIndex));
  for (size_t c = 0; c < target_of.size() && c < 256; ++c)
    if (target_of[c] >= 0) lut.at<uint8_t>(static_cast<int>(c)) = static_cast<uint8_t>(target_of[c]);
  cv::Mat out;
  cv::LUT(labels, lut, out);
  return out;
}

cv::Mat colourise(const cv::Mat& labels, const LabelSpace& space) {
  if (labels.type() != CV_8UC1)
    throw Error(fmt::format("colourise: labels must be CV_8UC1, got {}", cv::typeToString(labels.type())));
  cv::Mat bgr_lut(1, 256, CV_8UC3, cv::Scalar::all(0));
  for (size_t c = 0; c < space.colours.size() && c < 256; ++c) {
    const cv::Vec3b& rgb = space.colours[c];
    bgr_lut.at<cv::Vec3b>(static_cast<int>(c)) = cv::Vec3b(rgb[2], rgb[1], rgb[0]);
  }
  cv::Mat labels3, out;
  cv::cvtColor(labels, labels3, cv::COLOR_GRAY2BGR);
  cv::LUT(labels3, bgr_lut, out);
  return out;
}

}  // namespace segtransfer
