#include "data/synthetic.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "test_util.h"

using namespace segtransfer;
namespace fs = std::filesystem;

namespace {

constexpr int kRoad = 0, kBuilding = 2, kTrafficLight = 6, kVegetation = 8, kSky = 10, kRider = 12, kTruck = 14,
              kBus = 15;

// Pixel counts per train id (index 19 = ignore) over many scenes, and in how many scenes
// each class appears.
struct Census {
  std::array<double, 20> pixels{};
  std::array<int, 20> scenes{};
  double total = 0;
  int count = 0;
  int classes() const {
    int n = 0;
    for (int c = 0; c < 19; ++c) n += pixels[c] > 0;
    return n;
  }
};

Census census(SynthDomain domain, int scenes, cv::Size size) {
  Census c;
  for (int i = 0; i < scenes; ++i) {
    const SynthScene s = render_synthetic_scene(domain, 1000 + i, size);
    std::array<bool, 20> seen{};
    for (auto it = s.label.begin<uchar>(); it != s.label.end<uchar>(); ++it) {
      const int k = *it == 255 ? 19 : *it;
      c.pixels[k] += 1;
      seen[k] = true;
    }
    for (int k = 0; k < 20; ++k) c.scenes[k] += seen[k];
    c.total += s.label.total();
    ++c.count;
  }
  return c;
}

const Census& source_census() {
  static const Census c = census(SynthDomain::Source, 50, {160, 80});
  return c;
}
const Census& target_census() {
  static const Census c = census(SynthDomain::Target, 50, {160, 80});
  return c;
}

// Per-channel median colour of one class over several scenes (robust to lane marks).
cv::Scalar median_colour_of(SynthDomain domain, int train_id, int scenes) {
  std::array<std::vector<uchar>, 3> values;
  for (int i = 0; i < scenes; ++i) {
    const SynthScene s = render_synthetic_scene(domain, 2000 + i, {128, 64});
    for (int y = 0; y < s.label.rows; ++y)
      for (int x = 0; x < s.label.cols; ++x)
        if (s.label.at<uchar>(y, x) == train_id)
          for (int c = 0; c < 3; ++c) values[c].push_back(s.image.at<cv::Vec3b>(y, x)[c]);
  }
  cv::Scalar median;
  for (int c = 0; c < 3; ++c) {
    if (values[c].empty()) return cv::Scalar::all(-1);
    std::nth_element(values[c].begin(), values[c].begin() + values[c].size() / 2, values[c].end());
    median[c] = values[c][values[c].size() / 2];
  }
  return median;
}

// Share of the image's colour variance that the label explains (1 - within-class / total).
double variance_explained(const cv::Mat& image, const cv::Mat& label) {
  cv::Scalar mean, stddev;
  cv::meanStdDev(image, mean, stddev);
  const double total = (stddev[0] * stddev[0] + stddev[1] * stddev[1] + stddev[2] * stddev[2]) * image.total();
  double within = 0;
  for (int c = 0; c < 256; ++c) {
    const cv::Mat mask = label == c;
    const int n = cv::countNonZero(mask);
    if (n == 0) continue;
    cv::meanStdDev(image, mean, stddev, mask);
    within += (stddev[0] * stddev[0] + stddev[1] * stddev[1] + stddev[2] * stddev[2]) * n;
  }
  return 1 - within / std::max(1e-9, total);
}

// Mean absolute Laplacian of the grey image over the interior of one class.
double high_frequency_energy(SynthDomain domain, int train_id, int scenes) {
  double sum = 0, n = 0;
  for (int i = 0; i < scenes; ++i) {
    const SynthScene s = render_synthetic_scene(domain, 3000 + i, {256, 128});
    cv::Mat grey, lap, inside;
    cv::cvtColor(s.image, grey, cv::COLOR_BGR2GRAY);
    cv::Laplacian(grey, lap, CV_32F);
    cv::erode(s.label == train_id, inside, cv::Mat::ones(5, 5, CV_8U));
    const double pixels = cv::countNonZero(inside);
    if (pixels == 0) continue;
    sum += cv::mean(cv::abs(lap), inside)[0] * pixels;
    n += pixels;
  }
  return sum / std::max(1.0, n);
}

int train_id_of_label_id(int label_id) {
  static const std::map<int, int> table{{7, 0},   {8, 1},   {11, 2},  {12, 3},  {13, 4},  {17, 5},  {19, 6},
                                        {20, 7},  {21, 8},  {22, 9},  {23, 10}, {24, 11}, {25, 12}, {26, 13},
                                        {27, 14}, {28, 15}, {31, 16}, {32, 17}, {33, 18}};
  auto it = table.find(label_id);
  return it == table.end() ? 255 : it->second;
}

std::string file_bytes(const fs::path& p) { return read_text_file(p); }

std::set<std::string> files_under(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), root).string());
  return out;
}

}  // namespace

TEST(Synthetic, SameSeedSameSceneOtherSeedOtherScene) {
  for (SynthDomain d : {SynthDomain::Source, SynthDomain::Target}) {
    const SynthScene a = render_synthetic_scene(d, 7, {96, 48});
    const SynthScene b = render_synthetic_scene(d, 7, {96, 48});
    const SynthScene c = render_synthetic_scene(d, 8, {96, 48});
    ASSERT_EQ(a.image.type(), CV_8UC3);
    ASSERT_EQ(a.label.type(), CV_8UC1);
    ASSERT_EQ(a.image.size(), cv::Size(96, 48));
    ASSERT_EQ(a.label.size(), cv::Size(96, 48));
    EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0);
    EXPECT_EQ(cv::norm(a.label, b.label, cv::NORM_INF), 0);
    EXPECT_GT(cv::norm(a.image, c.image, cv::NORM_L1), 0);
    EXPECT_GT(cv::norm(a.label, c.label, cv::NORM_L1), 0);
  }
  // The same seed in the other domain is another scene.
  const SynthScene s = render_synthetic_scene(SynthDomain::Source, 7, {96, 48});
  const SynthScene t = render_synthetic_scene(SynthDomain::Target, 7, {96, 48});
  EXPECT_GT(cv::norm(s.label, t.label, cv::NORM_L1), 0);
}

TEST(Synthetic, LabelsAreTrainIdsAndManyClassesAppear) {
  for (const Census* c : {&source_census(), &target_census()}) {
    EXPECT_EQ(c->pixels[19], 0) << "no pixel should be left unlabelled";
    EXPECT_GE(c->classes(), 12);
    for (int k : {0, 1, 2, 5, 7, 8, 9, 10, 11, 13}) EXPECT_GT(c->pixels[k], 0) << "class " << k;
  }
  for (int seed = 0; seed < 5; ++seed) {
    const SynthScene s = render_synthetic_scene(SynthDomain::Target, seed, {64, 32});
    for (auto it = s.label.begin<uchar>(); it != s.label.end<uchar>(); ++it) ASSERT_TRUE(*it < 19 || *it == 255);
  }
}

TEST(Synthetic, RareClassesAreRare) {
  for (const Census* c : {&source_census(), &target_census()}) {
    EXPECT_LT(c->pixels[kRider] / c->total, 0.02);
    for (int k : {kRider, kBus, kTruck, kTrafficLight}) {
      EXPECT_LT(c->scenes[k], c->count / 2) << "class " << k << " in too many scenes";
    }
    EXPECT_GT(c->scenes[kRider] + c->scenes[kBus] + c->scenes[kTruck] + c->scenes[kTrafficLight], 0);
    // Road, building and sky dominate, as in street scenes.
    EXPECT_GT(c->pixels[kRoad] / c->total, 0.1);
    EXPECT_GT(c->pixels[kSky] / c->total, 0.05);
  }
  // The target has more people and fewer cars than the source.
  EXPECT_GT(target_census().pixels[11] / target_census().total, source_census().pixels[11] / source_census().total);
  EXPECT_LT(target_census().pixels[13] / target_census().total, source_census().pixels[13] / source_census().total);
}

TEST(Synthetic, DomainsDifferInColourAndTexture) {
  for (int k : {kRoad, kVegetation, kSky}) {
    const cv::Scalar source = median_colour_of(SynthDomain::Source, k, 12);
    const cv::Scalar target = median_colour_of(SynthDomain::Target, k, 12);
    // Calibrated with kTargetPaletteStrength = 0.4 (docs/benchmarks.md): a clear
    // shift, though the target keeps part of the source palette.
    EXPECT_GT(cv::norm(source - target), 10.0) << "class " << k << ": " << source << " vs " << target;
  }

  const double source_hf = high_frequency_energy(SynthDomain::Source, kBuilding, 8);
  const double target_hf = high_frequency_energy(SynthDomain::Target, kBuilding, 8);
  EXPECT_GT(target_hf, 1.3 * source_hf) << source_hf << " vs " << target_hf;
}

TEST(Synthetic, LabelsAlignWithTheImage) {
  int sky_on_top = 0, road_at_bottom = 0;
  double aligned = 0, shifted = 0;
  const int scenes = 20;
  for (int i = 0; i < scenes; ++i) {
    const SynthDomain domain = i % 2 ? SynthDomain::Target : SynthDomain::Source;
    const SynthScene s = render_synthetic_scene(domain, 4000 + i, {128, 64});
    sky_on_top += s.label.at<uchar>(0, 64) == kSky || s.label.at<uchar>(0, 10) == kSky;
    road_at_bottom += s.label.at<uchar>(63, 64) == kRoad;
    // The label explains the image's colours much better than a slightly shifted label.
    cv::Mat moved;
    cv::warpAffine(s.label, moved, cv::Mat_<double>({2, 3}, {1, 0, 3, 0, 1, 2}), s.label.size(), cv::INTER_NEAREST,
                   cv::BORDER_REPLICATE);
    aligned += variance_explained(s.image, s.label) / scenes;
    shifted += variance_explained(s.image, moved) / scenes;
  }
  EXPECT_GE(sky_on_top, scenes * 8 / 10);
  EXPECT_GE(road_at_bottom, scenes * 8 / 10);
  EXPECT_GT(aligned, 0.35);
  EXPECT_GT(aligned, shifted + 0.08) << aligned << " vs " << shifted;
}

TEST(Synthetic, FartherObjectsAreSmaller) {
  // Perspective: per scene, the road just below the horizon is at most half as wide as
  // half-way down the image, and it widens row by row towards the camera. A flat,
  // orthographic road (the same width in every row) fails both.
  int narrow = 0, widening = 0;
  for (int i = 0; i < 10; ++i) {
    const SynthScene s = render_synthetic_scene(SynthDomain::Source, 5000 + i, {128, 64});
    auto road_width = [&](int y) { return cv::countNonZero(s.label.row(y) == kRoad); };
    int top_row = -1;
    for (int y = 0; y < 64 && top_row < 0; ++y)
      if (road_width(y) > 0) top_row = y;
    ASSERT_GE(top_row, 0);
    const int mid = (top_row + 63) / 2;
    if (2 * road_width(std::min(63, top_row + 3)) <= road_width(mid)) ++narrow;
    int rising = 0, rows = 0;
    for (int y = top_row + 1; y <= mid; ++y, ++rows) rising += road_width(y) >= road_width(y - 1);
    if (rising >= rows * 8 / 10) ++widening;
  }
  EXPECT_GE(narrow, 8);
  EXPECT_GE(widening, 8);
}

TEST(Synthetic, LabelIdTable) {
  EXPECT_EQ(cityscapes_label_id_of_train_id(0), 7);
  EXPECT_EQ(cityscapes_label_id_of_train_id(10), 23);
  EXPECT_EQ(cityscapes_label_id_of_train_id(18), 33);
  EXPECT_EQ(cityscapes_label_id_of_train_id(255), 0);
  for (int t = 0; t < 19; ++t) EXPECT_EQ(train_id_of_label_id(cityscapes_label_id_of_train_id(t)), t);
  EXPECT_THROW(cityscapes_label_id_of_train_id(19), Error);
  EXPECT_THROW(cityscapes_label_id_of_train_id(-1), Error);
}

TEST(Synthetic, WritesBenchmarkLayoutAndResumes) {
  segtransfer::testing::TempDir dir;
  SynthOptions o;
  o.out = dir.str();
  o.source_train = 3;
  o.source_val = 2;
  o.target_train = 3;
  o.target_val = 2;
  o.size = {64, 32};
  o.seed = 11;
  o.threads = 2;
  write_synthetic_benchmark(o);

  std::set<std::string> expected{"source/train.txt", "source/val.txt"};
  for (int i = 1; i <= 5; ++i) {
    const std::string stem = "0000" + std::to_string(i);
    expected.insert("source/images/" + stem + ".png");
    expected.insert("source/labels/" + stem + ".png");
  }
  for (int i = 0; i < 5; ++i) {
    const std::string split = i < 3 ? "train" : "val";
    const std::string name = "synth_000000_00000" + std::to_string(i);
    expected.insert("target/leftImg8bit/" + split + "/synth/" + name + "_leftImg8bit.png");
    expected.insert("target/gtFine/" + split + "/synth/" + name + "_gtFine_labelIds.png");
    expected.insert("target/gtFine/" + split + "/synth/" + name + "_gtFine_labelTrainIds.png");
  }
  EXPECT_EQ(files_under(dir.path()), expected);
  EXPECT_EQ(read_text_file(dir / "source/train.txt"), "00001\n00002\n00003\n");
  EXPECT_EQ(read_text_file(dir / "source/val.txt"), "00004\n00005\n");

  // Source labels hold labelIds; target labelIds and labelTrainIds agree through the table.
  const cv::Mat source_image = cv::imread((dir / "source/images/00002.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(source_image.type(), CV_8UC3);
  EXPECT_EQ(source_image.size(), cv::Size(64, 32));
  const cv::Mat source_ids = cv::imread((dir / "source/labels/00002.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(source_ids.type(), CV_8UC1);
  std::set<int> seen;
  for (auto it = source_ids.begin<uchar>(); it != source_ids.end<uchar>(); ++it) {
    EXPECT_NE(train_id_of_label_id(*it), 255) << int(*it);
    seen.insert(*it);
  }
  EXPECT_TRUE(seen.count(23));  // sky
  const std::string gt = (dir / "target/gtFine/val/synth/synth_000000_000004_gtFine_").string();
  const cv::Mat ids = cv::imread(gt + "labelIds.png", cv::IMREAD_UNCHANGED);
  const cv::Mat train_ids = cv::imread(gt + "labelTrainIds.png", cv::IMREAD_UNCHANGED);
  ASSERT_EQ(ids.size(), cv::Size(64, 32));
  ASSERT_EQ(train_ids.size(), cv::Size(64, 32));
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 64; ++x) ASSERT_EQ(train_id_of_label_id(ids.at<uchar>(y, x)), train_ids.at<uchar>(y, x));

  // A rerun keeps existing files (even altered ones), rewrites missing ones identically and
  // leaves no temporary files; the thread count does not change the output.
  const fs::path image = dir / "source/images/00001.png";
  const fs::path label = dir / "target/gtFine/train/synth/synth_000000_000001_gtFine_labelTrainIds.png";
  const std::string label_bytes = file_bytes(label);
  { std::ofstream(image, std::ios::binary) << "kept"; }
  fs::remove(label);
  { std::ofstream(dir / "source/labels/00003.png.tmp.99999") << "stale"; }
  o.threads = 1;
  write_synthetic_benchmark(o);
  EXPECT_EQ(file_bytes(image), "kept");
  EXPECT_EQ(file_bytes(label), label_bytes);
  EXPECT_EQ(files_under(dir.path()), expected);

  segtransfer::testing::TempDir other;
  o.out = other.str();
  o.threads = 3;
  write_synthetic_benchmark(o);
  EXPECT_EQ(file_bytes(other / "target/leftImg8bit/val/synth/synth_000000_000003_leftImg8bit.png"),
            file_bytes(dir / "target/leftImg8bit/val/synth/synth_000000_000003_leftImg8bit.png"));
  EXPECT_EQ(file_bytes(other / "source/labels/00005.png"), file_bytes(dir / "source/labels/00005.png"));
}

TEST(Synthetic, RejectsBadOptions) {
  SynthOptions o;
  o.source_train = 1;
  EXPECT_THROW(write_synthetic_benchmark(o), Error);  // no output folder
  segtransfer::testing::TempDir dir;
  o.out = dir.str();
  o.threads = 0;
  EXPECT_THROW(write_synthetic_benchmark(o), Error);
  o.threads = 1;
  o.target_val = -1;
  EXPECT_THROW(write_synthetic_benchmark(o), Error);
  EXPECT_THROW(render_synthetic_scene(SynthDomain::Source, 0, {4, 4}), Error);
  // An output folder that is a file.
  { std::ofstream(dir / "occupied") << "x"; }
  o.target_val = 1;
  o.out = (dir / "occupied").string();
  EXPECT_THROW(write_synthetic_benchmark(o), Error);
}
