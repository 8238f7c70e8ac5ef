#include "data/dataset.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "test_util.h"

using namespace segtransfer;
using namespace segtransfer::testing;
namespace fs = std::filesystem;

namespace {

const cv::Size kSize(16, 8);

void write_png(const fs::path& path, const cv::Mat& mat) {
  fs::create_directories(path.parent_path());
  ASSERT_TRUE(cv::imwrite(path.string(), mat)) << path;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

cv::Mat image(int shade = 90, cv::Size size = kSize) { return cv::Mat(size, CV_8UC3, cv::Scalar(shade, 40, 200)); }

// A label whose first row holds `ids` (from x = 0) and is `fill` elsewhere.
cv::Mat label(std::vector<int> ids, int fill, cv::Size size = kSize, int type = CV_8UC1) {
  cv::Mat l(size, type, cv::Scalar(fill));
  for (size_t x = 0; x < ids.size(); ++x) {
    if (type == CV_8UC1)
      l.at<uint8_t>(0, static_cast<int>(x)) = static_cast<uint8_t>(ids[x]);
    else
      l.at<uint16_t>(0, static_cast<int>(x)) = static_cast<uint16_t>(ids[x]);
  }
  return l;
}

std::vector<std::string> stems(const SegDataset& ds) {
  std::vector<std::string> out;
  for (const SampleFiles& f : ds.files()) out.push_back(f.stem);
  return out;
}

DatasetSpec spec(const std::string& type, const TempDir& dir, const std::string& split = "train") {
  DatasetSpec s;
  s.type = type;
  s.root = dir.str();
  s.split = split;
  return s;
}

void write_junk(const fs::path& path) { write_text(path, "this is not a PNG file at all"); }

// Cityscapes: two cities, labelIds only.
void write_cityscapes(const TempDir& dir, const std::string& split = "val") {
  for (const std::string name : {"aachen_000001_000019", "aachen_000000_000019", "bochum_000000_000313"}) {
    const std::string city = name.substr(0, name.find('_'));
    write_png(dir / ("leftImg8bit/" + split + "/" + city + "/" + name + "_leftImg8bit.png"), image());
    write_png(dir / ("gtFine/" + split + "/" + city + "/" + name + "_gtFine_labelIds.png"), label({7, 26, 0, 33}, 8));
  }
}

}  // namespace

TEST(CityscapesReader, LabelIdsAreMapped) {
  TempDir dir;
  write_cityscapes(dir);
  const auto ds = open_dataset(spec("cityscapes", dir, "val"));
  ASSERT_EQ(ds->size(), 3u);
  EXPECT_EQ(stems(*ds),
            (std::vector<std::string>{"aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000313"}));
  EXPECT_TRUE(ds->has_labels());
  EXPECT_EQ(ds->label_space().num_classes(), 19);
  const Sample s = ds->read(2);
  EXPECT_EQ(s.stem, "bochum_000000_000313");
  ASSERT_EQ(s.image.type(), CV_8UC3);
  ASSERT_EQ(s.label.type(), CV_8UC1);
  ASSERT_EQ(s.label.size(), kSize);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 0);    // road
  EXPECT_EQ(s.label.at<uint8_t>(0, 1), 13);   // car
  EXPECT_EQ(s.label.at<uint8_t>(0, 2), 255);  // unlabeled
  EXPECT_EQ(s.label.at<uint8_t>(0, 3), 18);   // bicycle
  EXPECT_EQ(s.label.at<uint8_t>(5, 5), 1);    // sidewalk
  EXPECT_EQ(ds->unknown_id_pixels(), 0);
  EXPECT_EQ(ds->unknown_id_report(), "");
}

TEST(CityscapesReader, TrainIdsPreferredAndUnlabelledUse) {
  TempDir dir;
  write_cityscapes(dir);
  for (const std::string name : {"aachen_000001_000019", "aachen_000000_000019", "bochum_000000_000313"})
    write_png(dir / ("gtFine/val/" + name.substr(0, name.find('_')) + "/" + name + "_gtFine_labelTrainIds.png"),
              label({5}, 10));
  const auto ds = open_dataset(spec("cityscapes", dir, "val"));
  EXPECT_TRUE(contains(ds->files()[0].label, "labelTrainIds"));
  const Sample s = ds->read(0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 5);
  EXPECT_EQ(s.label.at<uint8_t>(1, 1), 10);

  fs::remove_all(dir / "gtFine");
  DatasetSpec unlabelled = spec("cityscapes", dir, "val");
  unlabelled.labels = false;
  const auto target = open_dataset(unlabelled);
  EXPECT_EQ(target->size(), 3u);
  EXPECT_FALSE(target->has_labels());
  const Sample t = target->read(1);
  EXPECT_TRUE(t.label.empty());
  EXPECT_EQ(t.image.size(), kSize);
}

TEST(CityscapesReader, Errors) {
  TempDir dir;
  write_cityscapes(dir);
  std::string m = error_of([&] { open_dataset(spec("cityscapes", dir, "test")); });
  EXPECT_TRUE(contains(m, (dir / "leftImg8bit/test").string())) << m;

  DatasetSpec missing_root = spec("cityscapes", dir, "val");
  missing_root.root = (dir / "nowhere").string();
  m = error_of([&] { open_dataset(missing_root); });
  EXPECT_TRUE(contains(m, missing_root.root)) << m;

  m = error_of([&] { open_dataset(spec("kitti", dir)); });
  EXPECT_TRUE(contains(m, "kitti") && contains(m, "cityscapes, gta5, synthia, camvid, acdc, folder")) << m;

  DatasetSpec wrong_space = spec("cityscapes", dir, "val");
  wrong_space.label_space = "camvid11";
  EXPECT_TRUE(contains(error_of([&] { open_dataset(wrong_space); }), "camvid11"));

  const fs::path extra = dir / "leftImg8bit/val/cologne/cologne_000000_000001_leftImg8bit.png";
  write_png(extra, image());
  m = error_of([&] { open_dataset(spec("cityscapes", dir, "val")); });
  EXPECT_TRUE(contains(m, extra.string())) << m;
  EXPECT_TRUE(contains(m, (dir / "gtFine/val/cologne/cologne_000000_000001_gtFine_labelIds.png").string())) << m;
}

TEST(CityscapesReader, ReadErrorsAndUnknownIds) {
  TempDir dir;
  write_cityscapes(dir);
  // aachen_000000 (index 0): label of the wrong size; aachen_000001 (1): unknown ids;
  // bochum (2): junk image.
  const fs::path small_label = dir / "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png";
  write_png(small_label, label({7}, 7, cv::Size(8, 4)));
  write_png(dir / "gtFine/val/aachen/aachen_000001_000019_gtFine_labelIds.png", label({200, 201, 201, 7}, 7));
  const fs::path junk = dir / "leftImg8bit/val/bochum/bochum_000000_000313_leftImg8bit.png";
  write_junk(junk);

  const auto ds = open_dataset(spec("cityscapes", dir, "val"));
  std::string m = error_of([&] { ds->read(0); });
  EXPECT_TRUE(contains(m, small_label.string()) && contains(m, "8x4") && contains(m, "16x8")) << m;

  const Sample s = ds->read(1);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 255);
  EXPECT_EQ(s.label.at<uint8_t>(0, 2), 255);
  EXPECT_EQ(s.label.at<uint8_t>(0, 3), 0);
  EXPECT_EQ(ds->unknown_id_pixels(), 3);
  EXPECT_EQ(ds->unknown_ids(), (std::vector<int>{200, 201}));
  const std::string report = ds->unknown_id_report();
  EXPECT_TRUE(contains(report, "2 unknown label ids (200, 201) in 3 pixels mapped to ignore")) << report;

  m = error_of([&] { ds->read(2); });
  EXPECT_TRUE(contains(m, junk.string())) << m;
  EXPECT_THROW(ds->read_image(3), Error);
}

TEST(Gta5Reader, SplitFilesListsAndLabels) {
  TempDir dir;
  for (const std::string stem : {"00003", "00001", "00002"}) {
    write_png(dir / ("images/" + stem + ".png"), image());
    write_png(dir / ("labels/" + stem + ".png"), label({7, 26, 0, 1}, 23));
  }
  auto ds = open_dataset(spec("gta5", dir));  // no train.txt: every image
  EXPECT_EQ(stems(*ds), (std::vector<std::string>{"00001", "00002", "00003"}));
  Sample s = ds->read(0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 1), 13);
  EXPECT_EQ(s.label.at<uint8_t>(0, 2), 255);
  EXPECT_EQ(s.label.at<uint8_t>(4, 4), 10);  // sky

  write_text(dir / "train.txt", "00003\n\n00001.png\n");
  ds = open_dataset(spec("gta5", dir));
  EXPECT_EQ(stems(*ds), (std::vector<std::string>{"00003", "00001"}));

  DatasetSpec listed = spec("gta5", dir);
  write_text(dir / "mine.txt", "00002\n");
  listed.list = (dir / "mine.txt").string();
  EXPECT_EQ(stems(*open_dataset(listed)), (std::vector<std::string>{"00002"}));

  write_text(dir / "mine.txt", "00002\n00009\n");
  const std::string m = error_of([&] { open_dataset(listed); });
  EXPECT_TRUE(contains(m, "00009") && contains(m, "mine.txt")) << m;
}

TEST(Gta5Reader, PaletteLabelsAndErrors) {
  TempDir dir;
  write_png(dir / "images/00001.png", image());
  // An indexed label as OpenCV decodes it: BGR colours of the Cityscapes labelIds.
  cv::Mat colour(kSize, CV_8UC3, cv::Scalar(180, 130, 70));  // sky
  colour.at<cv::Vec3b>(0, 0) = cv::Vec3b(128, 64, 128);      // road
  colour.at<cv::Vec3b>(0, 1) = cv::Vec3b(142, 0, 0);         // car
  colour.at<cv::Vec3b>(0, 2) = cv::Vec3b(153, 153, 153);     // pole (and polegroup)
  write_png(dir / "labels/00001.png", colour);
  auto ds = open_dataset(spec("gta5", dir));
  const Sample s = ds->read(0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 1), 13);
  EXPECT_EQ(s.label.at<uint8_t>(0, 2), 5);
  EXPECT_EQ(s.label.at<uint8_t>(3, 3), 10);

  colour.at<cv::Vec3b>(1, 1) = cv::Vec3b(1, 2, 3);
  write_png(dir / "labels/00001.png", colour);
  EXPECT_TRUE(contains(error_of([&] { ds->read(0); }), "(3, 2, 1)"));

  write_png(dir / "images/00002.png", image());
  std::string m = error_of([&] { open_dataset(spec("gta5", dir)); });
  EXPECT_TRUE(contains(m, (dir / "images/00002.png").string()) && contains(m, (dir / "labels/00002.png").string()))
      << m;

  fs::remove_all(dir / "labels");
  DatasetSpec unlabelled = spec("gta5", dir);
  unlabelled.labels = false;
  EXPECT_EQ(open_dataset(unlabelled)->size(), 2u);
  m = error_of([&] { open_dataset(spec("gta5", dir)); });
  EXPECT_TRUE(contains(m, (dir / "labels").string())) << m;

  fs::remove_all(dir / "images");
  fs::create_directories(dir / "images");
  m = error_of([&] { open_dataset(unlabelled); });
  EXPECT_TRUE(contains(m, "no images") && contains(m, (dir / "images").string())) << m;
}

TEST(SynthiaReader, SixteenBitFirstChannel) {
  TempDir dir;
  cv::Mat raw(kSize, CV_16UC3, cv::Scalar(4321, 999, 3));  // B, G garbage; R = id 3 (road)
  raw.at<cv::Vec3w>(0, 0)[2] = 21;                         // wall
  raw.at<cv::Vec3w>(0, 1)[2] = 0;                          // void (known, ignored)
  raw.at<cv::Vec3w>(0, 2)[2] = 1000;                       // unknown
  raw.at<cv::Vec3w>(0, 3)[2] = 11;                         // bicycle
  for (const std::string stem : {"0000001", "0000000"}) {
    write_png(dir / ("RGB/" + stem + ".png"), image());
    write_png(dir / ("GT/LABELS/" + stem + ".png"), raw);
  }
  auto ds = open_dataset(spec("synthia", dir));
  EXPECT_EQ(stems(*ds), (std::vector<std::string>{"0000000", "0000001"}));
  const Sample s = ds->read(1);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 3);
  EXPECT_EQ(s.label.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(s.label.at<uint8_t>(0, 2), 255);
  EXPECT_EQ(s.label.at<uint8_t>(0, 3), 18);
  EXPECT_EQ(s.label.at<uint8_t>(5, 5), 0);
  EXPECT_EQ(ds->unknown_id_pixels(), 1);
  EXPECT_EQ(ds->unknown_ids(), (std::vector<int>{1000}));

  // A single-channel label is not a SYNTHIA label.
  write_png(dir / "GT/LABELS/0000000.png", label({3}, 3));
  std::string m = error_of([&] { ds->read(0); });
  EXPECT_TRUE(contains(m, (dir / "GT/LABELS/0000000.png").string())) << m;

  write_text(dir / "val.txt", "0000001\n");
  EXPECT_EQ(stems(*open_dataset(spec("synthia", dir, "val"))), (std::vector<std::string>{"0000001"}));

  write_junk(dir / "GT/LABELS/0000001.png");
  m = error_of([&] { ds->read(1); });
  EXPECT_TRUE(contains(m, (dir / "GT/LABELS/0000001.png").string())) << m;
}

TEST(CamvidReader, SegNetLayout) {
  TempDir dir;
  for (const std::string stem : {"Seq05VD_f00000", "0001TP_006690"}) {
    write_png(dir / ("train/" + stem + ".png"), image());
    write_png(dir / ("trainannot/" + stem + ".png"), label({0, 10, 11, 12}, 3));
  }
  auto ds = open_dataset(spec("camvid", dir));
  EXPECT_EQ(stems(*ds), (std::vector<std::string>{"0001TP_006690", "Seq05VD_f00000"}));
  EXPECT_EQ(ds->label_space().name, "camvid11");
  const Sample s = ds->read(0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 1), 10);
  EXPECT_EQ(s.label.at<uint8_t>(0, 2), 255);
  EXPECT_EQ(s.label.at<uint8_t>(0, 3), 255);
  EXPECT_EQ(s.label.at<uint8_t>(2, 2), 3);
  EXPECT_EQ(ds->unknown_ids(), (std::vector<int>{12}));

  // A user label space overrides CamVid's.
  write_text(dir / "space.yaml",
             "classes:\n  - {name: a, colour: [1, 2, 3]}\n  - {name: b, colour: [4, 5, 6]}\n"
             "  - {name: c, colour: [7, 8, 9]}\n  - {name: d, colour: [7, 8, 9]}\n");
  DatasetSpec custom = spec("camvid", dir);
  custom.label_space = (dir / "space.yaml").string();
  ds = open_dataset(custom);
  EXPECT_EQ(ds->label_space().num_classes(), 4);
  EXPECT_EQ(ds->read(0).label.at<uint8_t>(2, 2), 3);
  EXPECT_EQ(ds->read(0).label.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(ds->unknown_ids(), (std::vector<int>{10, 12}));

  const std::string m = error_of([&] { open_dataset(spec("camvid", dir, "val")); });
  EXPECT_TRUE(contains(m, (dir / "val").string())) << m;
}

TEST(AcdcReader, ConditionsAndLabels) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> frames = {{"fog", "GOPR0475_frame_000041"},
                                                                   {"night", "GOPR0355_frame_000138"}};
  for (const auto& [condition, name] : frames) {
    const std::string seq = name.substr(0, name.find('_'));
    write_png(dir / ("rgb_anon/" + condition + "/val/" + seq + "/" + name + "_rgb_anon.png"), image());
    write_png(dir / ("gt/" + condition + "/val/" + seq + "/" + name + "_gt_labelTrainIds.png"), label({13, 254}, 2));
  }
  auto ds = open_dataset(spec("acdc", dir, "val"));
  EXPECT_EQ(stems(*ds), (std::vector<std::string>{"GOPR0475_frame_000041", "GOPR0355_frame_000138"}));
  const Sample s = ds->read(1);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 13);
  EXPECT_EQ(s.label.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(s.label.at<uint8_t>(3, 3), 2);
  EXPECT_EQ(ds->unknown_ids(), (std::vector<int>{254}));

  DatasetSpec night = spec("acdc", dir, "val");
  night.conditions = {"night"};
  EXPECT_EQ(stems(*open_dataset(night)), (std::vector<std::string>{"GOPR0355_frame_000138"}));
  night.conditions = {"rain"};
  EXPECT_TRUE(contains(error_of([&] { open_dataset(night); }), (dir / "rgb_anon/rain/val").string()));
  night.conditions = {"sandstorm"};
  EXPECT_TRUE(contains(error_of([&] { open_dataset(night); }), "sandstorm"));

  fs::remove(dir / "gt/fog/val/GOPR0475/GOPR0475_frame_000041_gt_labelTrainIds.png");
  const std::string m = error_of([&] { open_dataset(spec("acdc", dir, "val")); });
  EXPECT_TRUE(contains(m, "GOPR0475_frame_000041_rgb_anon.png") &&
              contains(m, "GOPR0475_frame_000041_gt_labelTrainIds.png"))
      << m;
  DatasetSpec unlabelled = spec("acdc", dir, "val");
  unlabelled.labels = false;
  EXPECT_EQ(open_dataset(unlabelled)->size(), 2u);
}

TEST(FolderReader, MirroredLabelsAndListFile) {
  TempDir dir;
  write_png(dir / "images/a.png", image());
  write_png(dir / "images/sub/b.jpg", image());
  write_png(dir / "labels/a.png", label({1, 200}, 0));
  write_png(dir / "labels/sub/b.png", label({2}, 18));
  auto ds = open_dataset(spec("folder", dir));
  EXPECT_EQ(stems(*ds), (std::vector<std::string>{"a", "sub_b"}));
  EXPECT_EQ(ds->label_space().name, "cityscapes19");
  Sample s = ds->read(0);
  EXPECT_EQ(s.label.at<uint8_t>(0, 0), 1);
  EXPECT_EQ(s.label.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(ds->unknown_ids(), (std::vector<int>{200}));
  EXPECT_EQ(ds->read(1).label.at<uint8_t>(1, 1), 18);

  DatasetSpec listed = spec("folder", dir);
  write_text(dir / "list.txt", "images/sub/b.jpg labels/sub/b.png\nimages/a.png labels/a.png\n");
  listed.list = "list.txt";  // relative to the root
  ds = open_dataset(listed);
  EXPECT_EQ(stems(*ds), (std::vector<std::string>{"sub_b", "a"}));
  EXPECT_EQ(ds->read(0).label.at<uint8_t>(1, 1), 18);

  write_text(dir / "list.txt", "images/a.png labels/a.png\nimages/c.png labels/c.png\n");
  std::string m = error_of([&] { open_dataset(listed); });
  EXPECT_TRUE(contains(m, (dir / "images/c.png").string())) << m;
  write_text(dir / "list.txt", "images/a.png\n");
  EXPECT_TRUE(contains(error_of([&] { open_dataset(listed); }), "images/a.png"));
  listed.labels = false;
  EXPECT_EQ(open_dataset(listed)->size(), 1u);

  fs::remove(dir / "labels/sub/b.png");
  m = error_of([&] { open_dataset(spec("folder", dir)); });
  EXPECT_TRUE(contains(m, (dir / "images/sub/b.jpg").string()) && contains(m, (dir / "labels/sub/b.png").string()))
      << m;
}
