#include "data/dataset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"

namespace segtransfer {
namespace {

namespace fs = std::filesystem;

const char* const kDatasetTypes = "cityscapes, gta5, synthia, camvid, acdc, folder";
const std::vector<std::string> kAcdcConditions = {"fog", "night", "rain", "snow"};

// Colours of the Cityscapes labelIds 0..33 (cityscapesScripts' labels.py); GTA5 stores
// its labels as indexed PNGs with this palette.
std::vector<cv::Vec3b> cityscapes_label_id_colours() {
  return {{0, 0, 0},       {0, 0, 0},       {0, 0, 0},       {0, 0, 0},       {0, 0, 0},       {111, 74, 0},
          {81, 0, 81},     {128, 64, 128},  {244, 35, 232},  {250, 170, 160}, {230, 150, 140}, {70, 70, 70},
          {102, 102, 156}, {190, 153, 153}, {180, 165, 180}, {150, 100, 100}, {150, 120, 90},  {153, 153, 153},
          {153, 153, 153}, {250, 170, 30},  {220, 220, 0},   {107, 142, 35},  {152, 251, 152}, {70, 130, 180},
          {220, 20, 60},   {255, 0, 0},     {0, 0, 142},     {0, 0, 70},      {0, 60, 100},    {0, 0, 90},
          {0, 0, 110},     {0, 80, 100},    {0, 0, 230},     {119, 11, 32}};
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string strip_suffix(const std::string& s, const std::string& suffix) {
  return ends_with(s, suffix) ? s.substr(0, s.size() - suffix.size()) : s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void require_dir(const fs::path& dir, const std::string& what) {
  if (!fs::is_directory(dir)) throw Error(fmt::format("{} '{}' does not exist", what, dir.string()));
}

// Regular files under `dir` whose name satisfies `keep`, sorted by path.
std::vector<fs::path> list_files(const fs::path& dir, bool recursive,
                                 const std::function<bool(const std::string&)>& keep) {
  std::vector<fs::path> found;
  auto consider = [&](const fs::directory_entry& e) {
    if (e.is_regular_file() && keep(e.path().filename().string())) found.push_back(e.path());
  };
  if (recursive) {
    for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink))
      consider(e);
  } else {
    for (const auto& e : fs::directory_iterator(dir)) consider(e);
  }
  std::sort(found.begin(), found.end());
  return found;
}

auto name_ends_with(std::string suffix) {
  return [suffix = std::move(suffix)](const std::string& name) { return ends_with(name, suffix); };
}

// The list file as given, or relative to the dataset root.
fs::path resolve_list_file(const std::string& list, const fs::path& root) {
  if (fs::is_regular_file(list)) return list;
  if (fs::is_regular_file(root / list)) return root / list;
  throw Error(fmt::format("list file '{}' does not exist (nor under '{}')", list, root.string()));
}

// Non-empty lines, trimmed; '#' starts a comment line.
std::vector<std::string> read_list_lines(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot read list file '{}'", path.string()));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    lines.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
  }
  return lines;
}

// Keeps, in list order, the samples the list names. An entry is a stem or a path
// whose file name (without extension and without `image_suffix`) is a stem.
std::vector<SampleFiles> select_listed(const std::vector<SampleFiles>& all, const fs::path& list_file,
                                       const fs::path& image_dir, const std::string& image_suffix = "") {
  std::map<std::string, size_t> by_stem;
  for (size_t i = 0; i < all.size(); ++i) by_stem.emplace(all[i].stem, i);
  std::vector<SampleFiles> selected;
  for (const std::string& entry : read_list_lines(list_file)) {
    auto it = by_stem.find(entry);
    if (it == by_stem.end()) it = by_stem.find(strip_suffix(fs::path(entry).stem().string(), image_suffix));
    if (it == by_stem.end())
      throw Error(fmt::format("list file '{}': entry '{}' has no image in '{}'", list_file.string(), entry,
                              image_dir.string()));
    selected.push_back(all[it->second]);
  }
  return selected;
}

// Sets each sample's label to label_of(sample); every label must exist.
void attach_labels(std::vector<SampleFiles>& files, const std::function<fs::path(const SampleFiles&)>& label_of) {
  for (SampleFiles& f : files) {
    const fs::path label = label_of(f);
    if (!fs::is_regular_file(label))
      throw Error(fmt::format("image '{}' has no label: expected '{}'", f.image, label.string()));
    f.label = label.string();
  }
}

struct Layout {
  std::vector<SampleFiles> files;
  LabelSpace space;
  IdMap id_map;
  bool label_16bit_first_channel = false;
  bool cityscapes_palette = false;
  fs::path image_dir;  // named in the "no images" error
};

LabelSpace cityscapes_family_space(const DatasetSpec& spec) {
  const std::string& s = spec.label_space;
  if (!s.empty() && s != "cityscapes19" && s != "cityscapes")
    throw Error(
        fmt::format("dataset type '{}' is labelled in the 19-class Cityscapes space; label_space '{}' is not "
                    "possible for it (leave it empty or use cityscapes19; map classes for evaluation instead)",
                    spec.type, s));
  return LabelSpace::cityscapes19();
}

void require_split(const DatasetSpec& spec) {
  if (spec.split.empty())
    throw Error(fmt::format("dataset type '{}' at '{}' needs a split (train, val or test)", spec.type, spec.root));
}

SampleFiles image_sample(const fs::path& image, std::string stem) { return {image.string(), "", std::move(stem)}; }

Layout cityscapes_layout(const DatasetSpec& spec) {
  require_split(spec);
  const fs::path root = spec.root;
  Layout layout{{},    cityscapes_family_space(spec),    IdMap::identity(19), false,
                false, root / "leftImg8bit" / spec.split};
  require_dir(layout.image_dir, "Cityscapes split folder");
  const std::string suffix = "_leftImg8bit.png";
  for (const fs::path& image : list_files(layout.image_dir, true, name_ends_with(suffix)))
    layout.files.push_back(image_sample(image, strip_suffix(image.filename().string(), suffix)));
  if (!spec.list.empty())
    layout.files = select_listed(layout.files, resolve_list_file(spec.list, root), layout.image_dir, "_leftImg8bit");
  if (!spec.labels) return layout;

  const fs::path label_dir = root / "gtFine" / spec.split;
  require_dir(label_dir, "Cityscapes label folder");
  auto label_base = [&](const SampleFiles& f) {
    const fs::path city = fs::relative(fs::path(f.image).parent_path(), layout.image_dir);
    return label_dir / city / (f.stem + "_gtFine_");
  };
  // Converted trainIds when every image has them, the original labelIds otherwise.
  const bool all_train_ids = std::all_of(layout.files.begin(), layout.files.end(), [&](const SampleFiles& f) {
    return fs::is_regular_file(label_base(f).string() + "labelTrainIds.png");
  });
  if (all_train_ids) {
    attach_labels(layout.files, [&](const SampleFiles& f) { return label_base(f).string() + "labelTrainIds.png"; });
  } else {
    attach_labels(layout.files, [&](const SampleFiles& f) { return label_base(f).string() + "labelIds.png"; });
    layout.id_map = IdMap::cityscapes_label_ids();
    layout.cityscapes_palette = true;
  }
  return layout;
}

// GTA5 and SYNTHIA: flat images/ and labels/ folders; the split is a list file.
Layout flat_layout(const DatasetSpec& spec, const std::string& image_subdir, const std::string& label_subdir) {
  const fs::path root = spec.root;
  Layout layout{{}, cityscapes_family_space(spec), IdMap(), false, false, root / image_subdir};
  require_dir(layout.image_dir, fmt::format("{} image folder", spec.type));
  for (const fs::path& image : list_files(layout.image_dir, false, name_ends_with(".png")))
    layout.files.push_back(image_sample(image, image.stem().string()));
  if (!spec.list.empty()) {
    layout.files = select_listed(layout.files, resolve_list_file(spec.list, root), layout.image_dir);
  } else if (!spec.split.empty() && fs::is_regular_file(root / (spec.split + ".txt"))) {
    layout.files = select_listed(layout.files, root / (spec.split + ".txt"), layout.image_dir);
  }
  if (spec.labels) {
    const fs::path label_dir = root / label_subdir;
    require_dir(label_dir, fmt::format("{} label folder", spec.type));
    attach_labels(layout.files, [&](const SampleFiles& f) { return label_dir / (f.stem + ".png"); });
  }
  return layout;
}

Layout gta5_layout(const DatasetSpec& spec) {
  Layout layout = flat_layout(spec, "images", "labels");
  layout.id_map = IdMap::cityscapes_label_ids();
  layout.cityscapes_palette = true;
  return layout;
}

Layout synthia_layout(const DatasetSpec& spec) {
  Layout layout = flat_layout(spec, "RGB", "GT/LABELS");
  layout.id_map = IdMap::synthia();
  layout.label_16bit_first_channel = true;
  return layout;
}

Layout camvid_layout(const DatasetSpec& spec) {
  require_split(spec);
  const fs::path root = spec.root;
  Layout layout{{}, LabelSpace::camvid11(), IdMap::camvid(), false, false, root / spec.split};
  if (!spec.label_space.empty()) {
    layout.space = LabelSpace::by_name(spec.label_space);
    layout.id_map = IdMap::identity(layout.space.num_classes(), {layout.space.ignore_index});
    if (layout.space.num_classes() <= 11) layout.id_map.ignore(11);  // SegNet's void
  }
  require_dir(layout.image_dir, "CamVid split folder");
  for (const fs::path& image : list_files(layout.image_dir, false, name_ends_with(".png")))
    layout.files.push_back(image_sample(image, image.stem().string()));
  if (!spec.list.empty())
    layout.files = select_listed(layout.files, resolve_list_file(spec.list, root), layout.image_dir);
  if (spec.labels) {
    const fs::path label_dir = root / (spec.split + "annot");
    require_dir(label_dir, "CamVid label folder");
    attach_labels(layout.files, [&](const SampleFiles& f) { return label_dir / (f.stem + ".png"); });
  }
  return layout;
}

Layout acdc_layout(const DatasetSpec& spec) {
  require_split(spec);
  const fs::path root = spec.root;
  Layout layout{{}, cityscapes_family_space(spec), IdMap::identity(19), false, false, root / "rgb_anon"};
  require_dir(layout.image_dir, "ACDC image folder");
  std::vector<std::string> conditions = spec.conditions;
  if (conditions.empty()) {
    std::copy_if(kAcdcConditions.begin(), kAcdcConditions.end(), std::back_inserter(conditions),
                 [&](const std::string& c) { return fs::is_directory(layout.image_dir / c / spec.split); });
    if (conditions.empty())
      throw Error(fmt::format("no ACDC condition folder (fog, night, rain, snow) with a '{}' split under '{}'",
                              spec.split, layout.image_dir.string()));
  }
  const std::string suffix = "_rgb_anon.png";
  for (const std::string& condition : conditions) {
    if (std::find(kAcdcConditions.begin(), kAcdcConditions.end(), condition) == kAcdcConditions.end())
      throw Error(fmt::format("unknown ACDC condition '{}' (expected fog, night, rain or snow)", condition));
    const fs::path split_dir = layout.image_dir / condition / spec.split;
    require_dir(split_dir, "ACDC split folder");
    const fs::path label_dir = root / "gt" / condition / spec.split;
    if (spec.labels) require_dir(label_dir, "ACDC label folder");
    for (const fs::path& image : list_files(split_dir, true, name_ends_with(suffix))) {
      SampleFiles f = image_sample(image, strip_suffix(image.filename().string(), suffix));
      if (spec.labels)
        f.label =
            (label_dir / fs::relative(image.parent_path(), split_dir) / (f.stem + "_gt_labelTrainIds.png")).string();
      layout.files.push_back(std::move(f));
    }
  }
  if (!spec.list.empty())
    layout.files = select_listed(layout.files, resolve_list_file(spec.list, root), layout.image_dir, "_rgb_anon");
  for (const SampleFiles& f : layout.files)
    if (spec.labels && !fs::is_regular_file(f.label))
      throw Error(fmt::format("image '{}' has no label: expected '{}'", f.image, f.label));
  return layout;
}

// "a/b/c.png" → "a_b_c": flat output names for nested folders.
std::string flat_stem(fs::path relative) {
  std::string stem = relative.replace_extension().generic_string();
  std::replace(stem.begin(), stem.end(), '/', '_');
  return stem;
}

Layout folder_layout(const DatasetSpec& spec) {
  const fs::path root = spec.root;
  Layout layout{{},      LabelSpace::by_name(spec.label_space.empty() ? "cityscapes19" : spec.label_space),
                IdMap(), false,
                false,   root / "images"};
  layout.id_map = IdMap::identity(layout.space.num_classes(), {layout.space.ignore_index});
  if (!spec.list.empty()) {
    // Lines "image_path [label_path]", relative to the root.
    const fs::path list_file = resolve_list_file(spec.list, root);
    for (const std::string& line : read_list_lines(list_file)) {
      std::istringstream fields(line);
      std::string image, label;
      fields >> image >> label;
      if (!fs::is_regular_file(root / image))
        throw Error(
            fmt::format("list file '{}': image '{}' does not exist", list_file.string(), (root / image).string()));
      fs::path relative = image;
      if (*relative.begin() == "images") relative = relative.lexically_relative("images");
      SampleFiles f = image_sample(root / image, flat_stem(relative));
      if (spec.labels) {
        if (label.empty())
          throw Error(fmt::format("list file '{}': entry '{}' has no label path (labels are wanted)",
                                  list_file.string(), line));
        if (!fs::is_regular_file(root / label))
          throw Error(
              fmt::format("list file '{}': label '{}' does not exist", list_file.string(), (root / label).string()));
        f.label = (root / label).string();
      }
      layout.files.push_back(std::move(f));
    }
    layout.image_dir = list_file;
    return layout;
  }
  require_dir(layout.image_dir, "image folder");
  auto is_image = [](const std::string& name) {
    const std::string ext = lower(fs::path(name).extension().string());
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
  };
  for (const fs::path& image : list_files(layout.image_dir, true, is_image))
    layout.files.push_back(image_sample(image, flat_stem(fs::relative(image, layout.image_dir))));
  if (spec.labels) {
    const fs::path label_dir = root / "labels";
    require_dir(label_dir, "label folder");
    attach_labels(layout.files, [&](const SampleFiles& f) {
      return (label_dir / fs::relative(f.image, layout.image_dir)).replace_extension(".png");
    });
  }
  return layout;
}

// Colour label → raw ids through `palette` (RGB by raw id); throws on a colour outside it.
cv::Mat decode_palette_label(const cv::Mat& bgr, const std::vector<cv::Vec3b>& palette, const std::string& path) {
  auto key = [](uint8_t r, uint8_t g, uint8_t b) { return (r << 16) | (g << 8) | b; };
  std::unordered_map<int, uint16_t> id_of_colour;
  for (size_t id = 0; id < palette.size(); ++id)
    id_of_colour.emplace(key(palette[id][0], palette[id][1], palette[id][2]), static_cast<uint16_t>(id));
  cv::Mat ids(bgr.size(), CV_16UC1);
  for (int y = 0; y < bgr.rows; ++y) {
    const cv::Vec3b* src = bgr.ptr<cv::Vec3b>(y);
    uint16_t* dst = ids.ptr<uint16_t>(y);
    for (int x = 0; x < bgr.cols; ++x) {
      const auto it = id_of_colour.find(key(src[x][2], src[x][1], src[x][0]));
      if (it == id_of_colour.end())
        throw Error(fmt::format("colour label '{}': colour ({}, {}, {}) at ({}, {}) is not in the label palette", path,
                                src[x][2], src[x][1], src[x][0], x, y));
      dst[x] = it->second;
    }
  }
  return ids;
}

}  // namespace

void write_png_atomically(const std::string& path, const cv::Mat& image) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", image, bytes)) throw Error("cannot encode " + path + " as PNG");
  write_atomically(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw Error("cannot write " + path + " (disk full or not writable?)");
  });
}

cv::Mat read_image_bgr(const std::string& path) {
  cv::Mat image;
  try {
    image = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw Error(fmt::format("cannot read image '{}': {}", path, e.msg));
  }
  if (image.empty()) throw Error(fmt::format("cannot read image '{}' (missing or not an image)", path));
  return image;
}

SegDataset::SegDataset(std::string description, std::vector<SampleFiles> files, LabelSpace space, IdMap id_map,
                       bool label_is_16bit_first_channel)
    : description_(std::move(description)),
      files_(std::move(files)),
      space_(std::move(space)),
      id_map_(std::move(id_map)),
      label_16bit_first_channel_(label_is_16bit_first_channel) {}

cv::Mat SegDataset::read_image(size_t index) const {
  if (index >= files_.size())
    throw Error(fmt::format("{}: sample {} out of range ({} samples)", description_, index, files_.size()));
  return read_image_bgr(files_[index].image);
}

Sample SegDataset::read(size_t index) const {
  Sample sample{read_image(index), cv::Mat(), files_[index].stem, cv::Mat()};
  if (aux_reader_) {
    sample.aux = aux_reader_(files_[index], sample.image.size());
    if (sample.aux.size() != sample.image.size() || sample.aux.channels() != aux_channels_ ||
        sample.aux.depth() != CV_8U)
      throw Error(fmt::format("extras of image '{}' are {}x{} {} but the image is {}x{} (expected {} uint8 channels)",
                              files_[index].image, sample.aux.cols, sample.aux.rows,
                              cv::typeToString(sample.aux.type()), sample.image.cols, sample.image.rows,
                              aux_channels_));
  }
  const std::string& path = files_[index].label;
  if (path.empty()) return sample;

  cv::Mat raw;
  try {
    raw = cv::imread(path, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error(fmt::format("cannot read label '{}': {}", path, e.msg));
  }
  if (raw.empty()) throw Error(fmt::format("cannot read label '{}' (missing or not an image)", path));
  const bool integer_depth = raw.depth() == CV_8U || raw.depth() == CV_16U;
  cv::Mat raw_ids;
  if (label_16bit_first_channel_ && raw.channels() >= 3 && integer_depth) {
    cv::extractChannel(raw, raw_ids, 2);  // the id is in R, the last of OpenCV's BGR
  } else if (!label_16bit_first_channel_ && raw.channels() == 1 && integer_depth) {
    raw_ids = raw;
  } else if (!label_16bit_first_channel_ && (raw.channels() == 3 || raw.channels() == 4) && raw.depth() == CV_8U &&
             !label_palette_.empty()) {
    if (raw.channels() == 4) cv::cvtColor(raw, raw, cv::COLOR_BGRA2BGR);
    raw_ids = decode_palette_label(raw, label_palette_, path);
  } else {
    throw Error(fmt::format("label '{}' is {}: expected {}", path, cv::typeToString(raw.type()),
                            label_16bit_first_channel_ ? "a 3-channel 16-bit PNG (id in the first channel)"
                                                       : "a single-channel 8- or 16-bit id map"));
  }
  if (raw_ids.size() != sample.image.size())
    throw Error(fmt::format("label '{}' is {}x{} but its image '{}' is {}x{}", path, raw_ids.cols, raw_ids.rows,
                            files_[index].image, sample.image.cols, sample.image.rows));

  int64_t unknown_pixels = 0;
  std::vector<int> unknown;
  sample.label = id_map_.apply(raw_ids, &unknown_pixels, &unknown);
  if (unknown_pixels > 0) {
    unknown_pixels_ += unknown_pixels;
    std::lock_guard<std::mutex> lock(unknown_mutex_);
    unknown_ids_.insert(unknown.begin(), unknown.end());
  }
  return sample;
}

std::vector<int> SegDataset::unknown_ids() const {
  std::lock_guard<std::mutex> lock(unknown_mutex_);
  return {unknown_ids_.begin(), unknown_ids_.end()};
}

std::string SegDataset::unknown_id_report() const {
  const std::vector<int> ids = unknown_ids();
  if (ids.empty()) return "";
  constexpr size_t kShown = 10;
  std::string listed = fmt::format("{}", fmt::join(ids.begin(), ids.begin() + std::min(ids.size(), kShown), ", "));
  if (ids.size() > kShown) listed += ", ...";
  return fmt::format("{}: {} unknown label id{} ({}) in {} pixels mapped to ignore", description_, ids.size(),
                     ids.size() == 1 ? "" : "s", listed, unknown_id_pixels());
}

std::shared_ptr<SegDataset> open_dataset(const DatasetSpec& spec) {
  using LayoutReader = Layout (*)(const DatasetSpec&);
  static const std::map<std::string, LayoutReader> readers = {
      {"cityscapes", cityscapes_layout}, {"gta5", gta5_layout}, {"synthia", synthia_layout},
      {"camvid", camvid_layout},         {"acdc", acdc_layout}, {"folder", folder_layout}};
  const auto reader = readers.find(spec.type);
  if (reader == readers.end())
    throw Error(fmt::format("unknown dataset type '{}' (expected one of: {})", spec.type, kDatasetTypes));
  if (spec.root.empty()) throw Error(fmt::format("dataset type '{}' has no root folder", spec.type));
  require_dir(spec.root, fmt::format("{} dataset root", spec.type));

  Layout layout;
  try {
    layout = reader->second(spec);
  } catch (const fs::filesystem_error& e) {
    throw Error(fmt::format("cannot list the files of dataset '{}': {}", spec.root, e.what()));
  }
  if (layout.files.empty())
    throw Error(fmt::format("no images found for dataset type '{}' in '{}'", spec.type, layout.image_dir.string()));
  std::map<std::string, const SampleFiles*> by_stem;
  for (const SampleFiles& f : layout.files) {
    const auto [it, inserted] = by_stem.emplace(f.stem, &f);
    if (!inserted)  // outputs are named after stems, so they must be unique
      throw Error(fmt::format("images '{}' and '{}' share the name '{}'", it->second->image, f.image, f.stem));
  }
  std::string description = fmt::format("{}{}{} ({})", spec.type, spec.split.empty() ? "" : " ", spec.split, spec.root);
  if (!spec.labels) description += " unlabelled";
  auto dataset = std::make_shared<SegDataset>(std::move(description), std::move(layout.files), std::move(layout.space),
                                              std::move(layout.id_map), layout.label_16bit_first_channel);
  if (layout.cityscapes_palette) dataset->set_label_palette(cityscapes_label_id_colours());
  return dataset;
}

}  // namespace segtransfer
