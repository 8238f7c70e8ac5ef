#include "data/label_space.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "data/class_mapping.h"
#include "test_util.h"

using namespace segtransfer;
using namespace segtransfer::testing;

namespace {

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return (dir / name).string();
}

// The message of the Error `f` throws ("" and a test failure when it throws none).
}  // namespace

TEST(LabelSpace, BuiltIns) {
  const LabelSpace cs = LabelSpace::cityscapes19();
  ASSERT_EQ(cs.num_classes(), 19);
  ASSERT_EQ(cs.colours.size(), 19u);
  EXPECT_EQ(cs.class_index("car"), 13);
  EXPECT_EQ(cs.class_index("bicycle"), 18);
  EXPECT_EQ(cs.class_index("nope"), -1);
  EXPECT_EQ(cs.colours[1], cv::Vec3b(244, 35, 232));
  EXPECT_EQ(cs.ignore_index, 255);

  const LabelSpace camvid = LabelSpace::camvid11();
  ASSERT_EQ(camvid.num_classes(), 11);
  ASSERT_EQ(camvid.colours.size(), 11u);
  EXPECT_EQ(camvid.class_index("Building"), 1);
  EXPECT_EQ(camvid.colours[1], cv::Vec3b(128, 0, 0));
  EXPECT_EQ(camvid.colours[4], cv::Vec3b(60, 40, 222));
  EXPECT_EQ(camvid.colours[10], cv::Vec3b(0, 128, 192));

  EXPECT_EQ(LabelSpace::by_name("cityscapes").name, "cityscapes19");
  EXPECT_EQ(LabelSpace::by_name("camvid").name, "camvid11");
  EXPECT_TRUE(contains(error_of([] { LabelSpace::by_name("pascal"); }), "pascal"));
}

TEST(LabelSpace, FromYaml) {
  TempDir dir;
  const std::string path = write_file(dir, "space.yaml",
                                      "name: mine\nignore_index: 200\nclasses:\n"
                                      "  - {name: ground, colour: [1, 2, 3]}\n"
                                      "  - {name: thing, colour: [255, 0, 7]}\n");
  const LabelSpace s = LabelSpace::by_name(path);
  EXPECT_EQ(s.name, "mine");
  EXPECT_EQ(s.ignore_index, 200);
  ASSERT_EQ(s.num_classes(), 2);
  EXPECT_EQ(s.classes[1], "thing");
  EXPECT_EQ(s.colours[1], cv::Vec3b(255, 0, 7));
}

TEST(LabelSpace, YamlErrorsNameFileAndEntry) {
  TempDir dir;
  const std::string bad_colour = write_file(dir, "bad_colour.yaml",
                                            "classes:\n  - {name: a, colour: [1, 2, 3]}\n"
                                            "  - {name: b, colour: [1, 300, 3]}\n");
  std::string m = error_of([&] { LabelSpace::from_yaml_file(bad_colour); });
  EXPECT_TRUE(contains(m, bad_colour)) << m;
  EXPECT_TRUE(contains(m, "classes[1] (b)")) << m;

  const std::string no_name = write_file(dir, "no_name.yml", "classes:\n  - {colour: [1, 2, 3]}\n");
  m = error_of([&] { LabelSpace::by_name(no_name); });
  EXPECT_TRUE(contains(m, "no_name.yml") && contains(m, "classes[0]")) << m;

  const std::string duplicate = write_file(dir, "dup.yaml",
                                           "classes:\n  - {name: a, colour: [1, 2, 3]}\n"
                                           "  - {name: a, colour: [1, 2, 3]}\n");
  EXPECT_TRUE(contains(error_of([&] { LabelSpace::from_yaml_file(duplicate); }), "duplicate"));

  const std::string low_ignore = write_file(dir, "ignore.yaml",
                                            "ignore_index: 1\nclasses:\n  - {name: a, colour: [1, 2, 3]}\n"
                                            "  - {name: b, colour: [1, 2, 3]}\n");
  EXPECT_TRUE(contains(error_of([&] { LabelSpace::from_yaml_file(low_ignore); }), "ignore_index"));

  const std::string unknown_key = write_file(dir, "key.yaml", "clases: []\n");
  EXPECT_TRUE(contains(error_of([&] { LabelSpace::from_yaml_file(unknown_key); }), "clases"));

  const std::string broken = write_file(dir, "broken.yaml", "classes: [ {name: a\n");
  EXPECT_TRUE(contains(error_of([&] { LabelSpace::from_yaml_file(broken); }), "broken.yaml"));
  EXPECT_TRUE(contains(error_of([&] { LabelSpace::by_name((dir / "absent.yaml").string()); }), "absent.yaml"));
}

TEST(Protocols, Subsets) {
  const LabelSpace cs = LabelSpace::cityscapes19();
  EXPECT_EQ(protocol_classes(cs, "19").size(), 19u);
  EXPECT_EQ(protocol_classes(cs, "").size(), 19u);

  const std::vector<int> p16 = protocol_classes(cs, "16");
  ASSERT_EQ(p16.size(), 16u);
  for (int excluded : {9, 14, 16}) EXPECT_EQ(std::count(p16.begin(), p16.end(), excluded), 0) << excluded;
  EXPECT_EQ(std::count(p16.begin(), p16.end(), 3), 1);

  const std::vector<int> p13 = protocol_classes(cs, "13");
  ASSERT_EQ(p13.size(), 13u);
  for (int excluded : {3, 4, 5, 9, 14, 16}) EXPECT_EQ(std::count(p13.begin(), p13.end(), excluded), 0) << excluded;
  EXPECT_TRUE(std::is_sorted(p13.begin(), p13.end()));

  const LabelSpace camvid = LabelSpace::camvid11();
  EXPECT_EQ(protocol_classes(camvid, "").size(), 11u);
  EXPECT_TRUE(contains(error_of([&] { protocol_classes(camvid, "16"); }), "camvid11"));
  EXPECT_TRUE(contains(error_of([&] { protocol_classes(cs, "17"); }), "'17'"));
}

TEST(IdMap, CityscapesLabelIds) {
  const IdMap m = IdMap::cityscapes_label_ids();
  EXPECT_EQ(m.lookup(7), 0);
  EXPECT_EQ(m.lookup(26), 13);
  EXPECT_EQ(m.lookup(33), 18);
  EXPECT_EQ(m.lookup(0), 255);
  EXPECT_TRUE(m.known(0));
  EXPECT_TRUE(m.known(-1));
  EXPECT_TRUE(m.known(255));
  EXPECT_FALSE(m.known(200));

  const cv::Mat raw = (cv::Mat_<uint8_t>(2, 3) << 7, 26, 0, 200, 201, 200);
  int64_t unknown_pixels = 0;
  std::vector<int> unknown_ids;
  const cv::Mat out = m.apply(raw, &unknown_pixels, &unknown_ids);
  ASSERT_EQ(out.type(), CV_8UC1);
  EXPECT_EQ(out.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(out.at<uint8_t>(0, 1), 13);
  EXPECT_EQ(out.at<uint8_t>(0, 2), 255);
  EXPECT_EQ(out.at<uint8_t>(1, 0), 255);
  EXPECT_EQ(unknown_pixels, 3);
  EXPECT_EQ(unknown_ids, (std::vector<int>{200, 201}));

  const cv::Mat raw16 = (cv::Mat_<uint16_t>(1, 4) << 7, 1000, 65535, 33);
  const cv::Mat out16 = m.apply(raw16, &unknown_pixels, &unknown_ids);
  EXPECT_EQ(out16.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(out16.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(out16.at<uint8_t>(0, 3), 18);
  EXPECT_EQ(unknown_pixels, 1);
  EXPECT_EQ(unknown_ids, (std::vector<int>{1000}));

  EXPECT_THROW(m.apply(cv::Mat(2, 2, CV_32SC1, cv::Scalar(7))), Error);
}

TEST(IdMap, SynthiaCamvidIdentity) {
  const IdMap s = IdMap::synthia();
  EXPECT_EQ(s.lookup(3), 0);
  EXPECT_EQ(s.lookup(21), 3);
  EXPECT_EQ(s.lookup(1), 10);
  EXPECT_EQ(s.lookup(11), 18);
  EXPECT_EQ(s.lookup(22), 255);
  EXPECT_TRUE(s.known(22));
  EXPECT_FALSE(s.known(23));

  const IdMap c = IdMap::camvid();
  EXPECT_EQ(c.lookup(10), 10);
  EXPECT_EQ(c.lookup(11), 255);
  EXPECT_TRUE(c.known(11));
  EXPECT_FALSE(c.known(12));

  const IdMap i = IdMap::identity(3);
  EXPECT_EQ(i.lookup(2), 2);
  EXPECT_TRUE(i.known(255));
  EXPECT_FALSE(i.known(3));
  EXPECT_FALSE(IdMap().known(0));
}

TEST(ClassMapping, CityscapesToCamvidLabels) {
  const ClassMapping m = ClassMapping::cityscapes_to_camvid();
  ASSERT_EQ(m.target_of.size(), 19u);
  EXPECT_EQ(m.num_target_classes, 11);
  const cv::Mat labels = (cv::Mat_<uint8_t>(1, 6) << 2, 3, 13, 16, 255, 10);
  const cv::Mat out = m.apply_labels(labels);
  EXPECT_EQ(out.at<uint8_t>(0, 0), 1);  // building → Building
  EXPECT_EQ(out.at<uint8_t>(0, 1), 1);  // wall → Building
  EXPECT_EQ(out.at<uint8_t>(0, 2), 8);  // car → Car
  EXPECT_EQ(out.at<uint8_t>(0, 3), 8);  // train → Car
  EXPECT_EQ(out.at<uint8_t>(0, 4), 255);
  EXPECT_EQ(out.at<uint8_t>(0, 5), 0);  // sky → Sky
  EXPECT_EQ(ClassMapping::identity(4).target_of, (std::vector<int>{0, 1, 2, 3}));
}

TEST(ClassMapping, FromYaml) {
  TempDir dir;
  const LabelSpace cs = LabelSpace::cityscapes19(), camvid = LabelSpace::camvid11();
  const std::string path =
      write_file(dir, "map.yaml", "num_target_classes: 11\nmap: {road: Road, 1: 4, wall: 1, sky: -1}\n");
  const ClassMapping m = ClassMapping::from_yaml_file(path, cs, camvid);
  ASSERT_EQ(m.target_of.size(), 19u);
  EXPECT_EQ(m.target_of[0], 3);
  EXPECT_EQ(m.target_of[1], 4);
  EXPECT_EQ(m.target_of[3], 1);
  EXPECT_EQ(m.target_of[10], -1);  // dropped explicitly
  EXPECT_EQ(m.target_of[13], -1);  // not listed
  const cv::Mat out = m.apply_labels((cv::Mat_<uint8_t>(1, 2) << 10, 0));
  EXPECT_EQ(out.at<uint8_t>(0, 0), 255);
  EXPECT_EQ(out.at<uint8_t>(0, 1), 3);

  const std::string bad = write_file(dir, "bad.yaml", "map: {road: Road, roadd: Car}\n");
  std::string msg = error_of([&] { ClassMapping::from_yaml_file(bad, cs, camvid); });
  EXPECT_TRUE(contains(msg, bad) && contains(msg, "roadd")) << msg;
  const std::string bad_target = write_file(dir, "bad_target.yaml", "map: {road: Street}\n");
  msg = error_of([&] { ClassMapping::from_yaml_file(bad_target, cs, camvid); });
  EXPECT_TRUE(contains(msg, "Street")) << msg;
  const std::string bad_count = write_file(dir, "count.yaml", "num_target_classes: 12\nmap: {road: Road}\n");
  EXPECT_TRUE(contains(error_of([&] { ClassMapping::from_yaml_file(bad_count, cs, camvid); }), "num_target_classes"));
}

TEST(ClassMapping, MapProbabilities) {
  torch::manual_seed(0);
  const ClassMapping m = ClassMapping::cityscapes_to_camvid();
  const torch::Tensor probs = torch::softmax(torch::randn({2, 19, 4, 5}), 1);
  const torch::Tensor out = map_probabilities(m, probs);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 11, 4, 5}));
  EXPECT_TRUE(torch::allclose(out.sum(1), torch::ones({2, 4, 5}), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out.select(1, 1), probs.select(1, 2) + probs.select(1, 3)));  // building + wall
  EXPECT_TRUE(torch::allclose(out.select(1, 0), probs.select(1, 10)));                      // sky

  const torch::Tensor out3 = map_probabilities(m, probs[0]);
  ASSERT_EQ(out3.sizes(), (std::vector<int64_t>{11, 4, 5}));
  EXPECT_TRUE(torch::allclose(out3, out[0]));

  ClassMapping dropping = ClassMapping::identity(19);
  dropping.target_of[18] = -1;
  const torch::Tensor kept = map_probabilities(dropping, probs);
  EXPECT_TRUE(torch::allclose(kept.sum(1), 1 - probs.select(1, 18), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(kept.select(1, 18), torch::zeros({2, 4, 5})));

  EXPECT_THROW(map_probabilities(m, torch::rand({2, 11, 4, 5})), Error);
  EXPECT_THROW(map_probabilities(m, torch::rand({19, 5})), Error);
}

TEST(Colourise, ClassColoursAndBlackIgnore) {
  const cv::Mat labels = (cv::Mat_<uint8_t>(1, 3) << 1, 255, 10);
  const cv::Mat bgr = colourise(labels, LabelSpace::cityscapes19());
  ASSERT_EQ(bgr.type(), CV_8UC3);
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 0), cv::Vec3b(232, 35, 244));  // sidewalk, RGB (244, 35, 232)
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 1), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(bgr.at<cv::Vec3b>(0, 2), cv::Vec3b(180, 130, 70));  // sky
}
