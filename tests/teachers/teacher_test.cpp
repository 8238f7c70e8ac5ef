#include "teachers/teacher.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "data/label_space.h"
#include "data/loader.h"
#include "models/model.h"
#include "models/torchscript_export.h"
#include "teachers/npy.h"
#include "teachers/prediction_folder.h"
#include "teachers/torchscript_teacher.h"
#include "test_util.h"

namespace segtransfer {
namespace {

using testing::contains;
using testing::error_of;

const cv::Size kImage(8, 6);  // (w, h)

std::string png_bytes(const cv::Mat& m) {
  std::vector<uchar> buf;
  cv::imencode(".png", m, buf);
  return std::string(buf.begin(), buf.end());
}

LabelSpace space_of(int n) {
  LabelSpace s;
  s.name = fmt::format("test{}", n);
  for (int c = 0; c < n; ++c) s.classes.push_back(fmt::format("class{}", c));
  s.colours.assign(n, cv::Vec3b(0, 0, 0));
  return s;
}

std::string decode_error(const torch::Tensor& raw, const std::string& output = "probabilities", int classes = 3) {
  return error_of([&] { decode_answer(raw, {output, classes}, kImage, "img.npy"); });
}

TEST(DecodeAnswer, RejectsEveryBadArrayWithItsCause) {
  EXPECT_TRUE(
      contains(decode_error(torch::full({3, 6}, 0.3)), "img.npy: expected a (C, H, W) array, got shape [3, 6]"));
  EXPECT_TRUE(contains(decode_error(torch::full({1, 3, 6, 8}, 0.3)), "got shape [1, 3, 6, 8]"));
  EXPECT_TRUE(contains(decode_error(torch::full({4, 6, 8}, 0.25)),
                       "4 classes in the answer, but the black box is set "
                       "to 3 (teacher.num_classes)"));
  torch::Tensor nan = torch::full({3, 6, 8}, 0.3);
  nan[0][1][2] = NAN;
  nan[2][0][0] = INFINITY;
  EXPECT_TRUE(contains(decode_error(nan), "img.npy: 2 values are NaN or infinite"));
  EXPECT_TRUE(contains(decode_error(torch::full({3, 6, 8}, 4.0)), "teacher.output: logits"));
  EXPECT_TRUE(contains(decode_error(torch::full({3, 6, 8}, -0.5)), "values in [-0.5, -0.5] are not probabilities"));
  EXPECT_TRUE(contains(decode_error(torch::full({3, 6, 8}, 0.3), "labels"), "not a PNG label map"));
  EXPECT_TRUE(contains(decode_error(torch::full({3, 6, 8}, 0.3), "scores"), "teacher.output: 'scores'"));
}

TEST(DecodeAnswer, ProbabilitiesPassWithinToleranceAndLogitsAreSoftmaxed) {
  torch::Tensor p = torch::full({3, 6, 8}, 1.0 / 3);
  p[0][0][0] = 1.0005;  // rounding noise of a black box is tolerated, and clamped
  TeacherAnswer a = decode_answer(p, {"probabilities", 3}, kImage, "x");
  EXPECT_FLOAT_EQ(a.probabilities[0][0][0].item<float>(), 1.0f);
  EXPECT_EQ(a.probabilities.scalar_type(), torch::kFloat32);

  torch::Tensor logits = torch::randn({3, 6, 8}, torch::kFloat64);
  TeacherAnswer b = decode_answer(logits, {"logits", 3}, kImage, "x");
  EXPECT_TRUE(b.has_probabilities());
  EXPECT_TRUE(torch::allclose(b.probabilities, torch::softmax(logits, 0).to(torch::kFloat32), 1e-6, 1e-6));
  EXPECT_TRUE(b.probabilities.is_contiguous());
}

TEST(DecodeAnswer, SmallerAnswerIsResizedBilinearlyToTheImage) {
  // Class 0 probability 0 on the left column, 1 on the right; at 4x the width, with
  // align_corners = false, output column 2 samples input x = (2 + 0.5) / 4 - 0.5 = 0.125.
  torch::Tensor p = torch::zeros({2, 1, 2});
  p[0][0][1] = 1;
  p[1][0][0] = 1;
  TeacherAnswer a = decode_answer(p, {"probabilities", 2}, cv::Size(8, 3), "x");
  ASSERT_EQ(a.probabilities.sizes().vec(), (std::vector<int64_t>{2, 3, 8}));
  EXPECT_NEAR(a.probabilities[0][1][2].item<float>(), 0.125f, 1e-6);
  EXPECT_NEAR(a.probabilities[1][1][2].item<float>(), 0.875f, 1e-6);
  EXPECT_NEAR(a.probabilities[0][2][7].item<float>(), 1.0f, 1e-6);
}

TEST(DecodeAnswerBytes, ReadsNpyAndPngLabelMaps) {
  TeacherAnswer a =
      decode_answer_bytes(encode_npy(torch::full({3, 6, 8}, 0.5, torch::kFloat16)), {"probabilities", 3}, kImage, "x");
  EXPECT_NEAR(a.probabilities.mean().item<float>(), 0.5f, 1e-6);

  cv::Mat labels(2, 2, CV_8UC1, cv::Scalar(1));
  labels.at<uchar>(0, 0) = 255;  // ignore survives
  labels.at<uchar>(1, 1) = 2;
  // A PNG is a label-only answer whatever teacher.output says.
  TeacherAnswer b = decode_answer_bytes(png_bytes(labels), {"probabilities", 3}, cv::Size(4, 4), "x");
  EXPECT_FALSE(b.has_probabilities());
  ASSERT_EQ(b.labels.size(), cv::Size(4, 4));
  EXPECT_EQ(b.labels.type(), CV_8UC1);
  EXPECT_EQ(b.labels.at<uchar>(1, 1), 255);  // nearest neighbour: no blended ids
  EXPECT_EQ(b.labels.at<uchar>(3, 3), 2);
  EXPECT_EQ(b.labels.at<uchar>(0, 3), 1);
}

TEST(DecodeAnswerBytes, RejectsBadPngsAndUnknownBytes) {
  cv::Mat labels(2, 2, CV_8UC1, cv::Scalar(1));
  labels.at<uchar>(0, 1) = 7;
  EXPECT_TRUE(contains(error_of([&] {
                         decode_answer_bytes(png_bytes(labels), {"labels", 3}, kImage, "a.png");
                       }),
                       "a.png: class id 7 in a label map of 3 classes"));
  cv::Mat colour(2, 2, CV_8UC3, cv::Scalar(1, 1, 1));
  EXPECT_TRUE(contains(error_of([&] {
                         decode_answer_bytes(png_bytes(colour), {"labels", 3}, kImage, "a.png");
                       }),
                       "single-channel 8-bit"));
  EXPECT_TRUE(contains(error_of([&] {
                         decode_answer_bytes(png_bytes(labels).substr(0, 30), {"labels", 3}, kImage, "a.png");
                       }),
                       "a.png: corrupt PNG"));
  EXPECT_TRUE(contains(error_of([&] {
                         decode_answer_bytes("<html>502</html>", {"labels", 3}, kImage, "b");
                       }),
                       "b: neither a NumPy .npy array nor a PNG label map"));
}

class FolderTest : public ::testing::Test {
 protected:
  void put(const std::string& name, const std::string& bytes) { std::ofstream(dir / name, std::ios::binary) << bytes; }
  std::string ask_error(const std::string& stem, int classes = 3, const std::string& output = "probabilities") {
    PredictionFolderTeacher teacher(dir.str(), {output, classes});
    return error_of([&] { teacher.ask(image, stem); });
  }
  testing::TempDir dir;
  cv::Mat image = cv::Mat(kImage, CV_8UC3, cv::Scalar(10, 20, 30));
};

TEST_F(FolderTest, ReadsNpyThenPngAndCountsRequests) {
  write_npy_file((dir / "a.npy").string(), torch::full({3, 3, 4}, 0.25f));
  cv::Mat labels(6, 8, CV_8UC1, cv::Scalar(2));
  put("b.png", png_bytes(labels));
  PredictionFolderTeacher teacher(dir.str(), {"probabilities", 3});
  EXPECT_EQ(teacher.max_concurrency(), 4);
  // What the folder holds is known only from the answers: an array is read as teacher.output, a PNG is labels.
  EXPECT_TRUE(contains(teacher.describe(), "(3 classes, probabilities or label PNGs)")) << teacher.describe();
  EXPECT_TRUE(cv::countNonZero(teacher.ask(image, "b").labels != 2) == 0);
  EXPECT_TRUE(contains(teacher.describe(), "(3 classes, label PNGs)")) << teacher.describe();
  TeacherAnswer a = teacher.ask(image, "a");
  EXPECT_EQ(a.probabilities.sizes().vec(), (std::vector<int64_t>{3, 6, 8}));
  EXPECT_EQ(teacher.requests(), 2);
  EXPECT_TRUE(contains(teacher.describe(), dir.str()));
  EXPECT_TRUE(contains(teacher.describe(), "(3 classes, probabilities and label PNGs)")) << teacher.describe();
}

TEST_F(FolderTest, EveryBadPredictionFileGetsAClearError) {
  const std::string folder = dir.str();
  EXPECT_EQ(ask_error("nope"),
            fmt::format("no prediction for image nope in {} (expected nope.npy or nope.png)", folder));
  write_npy_file((dir / "classes.npy").string(), torch::full({5, 6, 8}, 0.2f));
  EXPECT_TRUE(contains(ask_error("classes"), "classes.npy: 5 classes in the answer, but the black box is set to 3"));
  write_npy_file((dir / "rank.npy").string(), torch::full({6, 8}, 0.2f));
  EXPECT_TRUE(contains(ask_error("rank"), "rank.npy: expected a (C, H, W) array, got shape [6, 8]"));
  torch::Tensor nan = torch::full({3, 6, 8}, 0.2f);
  nan[1][2][3] = NAN;
  write_npy_file((dir / "nan.npy").string(), nan);
  EXPECT_TRUE(contains(ask_error("nan"), "nan.npy: 1 values are NaN or infinite"));
  const std::string good = encode_npy(torch::full({3, 6, 8}, 0.2f));
  put("truncated.npy", good.substr(0, good.size() - 10));
  EXPECT_TRUE(contains(ask_error("truncated"), "truncated.npy: truncated .npy file"));
  put("magic.npy", "XX" + good.substr(2));
  EXPECT_TRUE(contains(ask_error("magic"), "magic.npy: neither a NumPy .npy array nor a PNG"));
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  put("fortran.npy", fortran);
  EXPECT_TRUE(contains(ask_error("fortran"), "fortran.npy: Fortran-order"));
  cv::Mat labels(6, 8, CV_8UC1, cv::Scalar(0));
  labels.at<uchar>(3, 3) = 19;
  put("range.png", png_bytes(labels));
  EXPECT_TRUE(contains(ask_error("range", 3, "labels"), "range.png: class id 19 in a label map of 3 classes"));
  EXPECT_TRUE(contains(error_of([&] {
                         PredictionFolderTeacher((dir / "absent").string(), {"labels", 3});
                       }),
                       "teacher.path: prediction folder"));
}

TeacherSpec folder_spec(const std::string& path, int classes, const std::string& mapping) {
  TeacherSpec spec;
  spec.type = "folder";
  spec.path = path;
  spec.num_classes = classes;
  spec.mapping = mapping;
  return spec;
}

TEST_F(FolderTest, CityscapesToCamvidMappingSumsProbabilities) {
  torch::Tensor p = torch::zeros({19, 2, 2});
  p[13].fill_(0.4);  // car
  p[14].fill_(0.1);  // truck
  p[15].fill_(0.1);  // bus
  p[0].fill_(0.3);   // road
  p[10].fill_(0.1);  // sky
  write_npy_file((dir / "a.npy").string(), p);
  cv::Mat labels(2, 2, CV_8UC1, cv::Scalar(13));
  labels.at<uchar>(0, 0) = 255;
  labels.at<uchar>(0, 1) = 10;
  put("b.png", png_bytes(labels));

  auto teacher =
      make_teacher(folder_spec(dir.str(), 19, "cityscapes_to_camvid"), LabelSpace::camvid11(), {}, torch::kCPU);
  EXPECT_EQ(teacher->num_classes(), 11);
  EXPECT_TRUE(contains(teacher->describe(), "cityscapes_to_camvid"));
  TeacherAnswer a = teacher->ask(cv::Mat(2, 2, CV_8UC3), "a");
  ASSERT_EQ(a.probabilities.size(0), 11);
  EXPECT_NEAR(a.probabilities[8][0][0].item<float>(), 0.6f, 1e-6);  // Car = car + truck + bus
  EXPECT_NEAR(a.probabilities[3][1][1].item<float>(), 0.3f, 1e-6);  // Road
  EXPECT_NEAR(a.probabilities[0][1][0].item<float>(), 0.1f, 1e-6);  // Sky
  EXPECT_NEAR(a.probabilities.sum(0).mean().item<float>(), 1.0f, 1e-6);
  TeacherAnswer b = teacher->ask(cv::Mat(2, 2, CV_8UC3), "b");
  EXPECT_EQ(b.labels.at<uchar>(0, 0), 255);
  EXPECT_EQ(b.labels.at<uchar>(0, 1), 0);  // sky → Sky
  EXPECT_EQ(b.labels.at<uchar>(1, 1), 8);  // car → Car
  EXPECT_EQ(teacher->requests(), 2);       // the adapter's count shows through the mapping
}

TEST_F(FolderTest, YamlMappingOfAnUnnamedBlackBoxUsesIndices) {
  write_npy_file((dir / "a.npy").string(), torch::full({4, 2, 2}, 0.25f));
  const std::string yaml = (dir / "map.yaml").string();
  std::ofstream(yaml) << "map: {0: 0, 1: 0, 2: class1, 3: -1}\n";
  auto teacher = make_teacher(folder_spec(dir.str(), 4, yaml), space_of(2), {}, torch::kCPU);
  TeacherAnswer a = teacher->ask(cv::Mat(2, 2, CV_8UC3), "a");
  EXPECT_NEAR(a.probabilities[0][0][0].item<float>(), 0.5f, 1e-6);
  EXPECT_NEAR(a.probabilities[1][0][0].item<float>(), 0.25f, 1e-6);
  std::ofstream(yaml) << "map: {road: 0}\n";
  EXPECT_TRUE(contains(error_of([&] { make_teacher(folder_spec(dir.str(), 4, yaml), space_of(2), {}, torch::kCPU); }),
                       "refer to them by index"));
}

TEST_F(FolderTest, MakeTeacherExplainsItsKeys) {
  auto teacher = make_teacher(folder_spec(dir.str(), 0, ""), space_of(3), {}, torch::kCPU);
  EXPECT_EQ(teacher->num_classes(), 3);  // 0 = the target's classes
  EXPECT_TRUE(contains(error_of([&] { make_teacher(folder_spec(dir.str(), 19, ""), space_of(3), {}, torch::kCPU); }),
                       "teacher.mapping"));
  EXPECT_TRUE(contains(
      error_of([&] { make_teacher(folder_spec(dir.str(), 19, "cityscapes_to_camvid"), space_of(3), {}, torch::kCPU); }),
      "teacher.mapping: 'cityscapes_to_camvid' maps 19 classes onto 11"));
  TeacherSpec spec = folder_spec(dir.str(), 0, "");
  spec.type = "ftp";
  const std::string message = error_of([&] { make_teacher(spec, space_of(3), {}, torch::kCPU); });
  EXPECT_TRUE(contains(message, "teacher.type: 'ftp' is not one of folder, torchscript, http"));
  spec = folder_spec(dir.str(), 0, "");
  spec.output = "softmax";
  EXPECT_TRUE(contains(error_of([&] { make_teacher(spec, space_of(3), {}, torch::kCPU); }), "teacher.output"));
  spec = folder_spec(dir.str(), 0, "");
  spec.augment_hflip = true;  // a folder has one answer per image: nothing to ask per view
  EXPECT_TRUE(contains(error_of([&] { make_teacher(spec, space_of(3), {}, torch::kCPU); }), "teacher.augment"));
}

TEST(TorchScriptTeacher, AnswersTheSoftmaxOfTheExportedModel) {
  testing::TempDir dir;
  torch::manual_seed(0);
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
  const std::string path = (dir / "bb.pt").string();
  export_torchscript(*model, cv::Size(64, 32), path);

  DataSpec data;
  cv::Mat image(32, 64, CV_8UC3);
  cv::randu(image, 0, 256);
  TorchScriptTeacher teacher(path, {"logits", 19}, data.mean, data.std, cv::Size(), torch::kCPU);
  TeacherAnswer a = teacher.ask(image, "img");
  EXPECT_EQ(teacher.requests(), 1);

  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor expected =
      torch::softmax(model->forward(image_to_tensor(image, data.mean, data.std).unsqueeze(0))[0], 0);
  ASSERT_EQ(a.probabilities.sizes(), expected.sizes());
  EXPECT_LT((a.probabilities - expected).abs().max().item<float>(), 1e-5);

  // Another image size: fed at teacher.input_size, answered at the image's size.
  TorchScriptTeacher resized(path, {"logits", 19}, data.mean, data.std, cv::Size(64, 32), torch::kCPU);
  EXPECT_EQ(resized.ask(cv::Mat(20, 40, CV_8UC3, cv::Scalar(0)), "small").probabilities.sizes().vec(),
            (std::vector<int64_t>{19, 20, 40}));
  // The wrong class count is caught like any other bad answer.
  TorchScriptTeacher wrong(path, {"logits", 11}, data.mean, data.std, cv::Size(), torch::kCPU);
  EXPECT_TRUE(contains(error_of([&] { wrong.ask(image, "img"); }), "19 classes in the answer"));
}

TEST(TorchScriptTeacher, UnloadableFileIsNamed) {
  testing::TempDir dir;
  const std::string path = (dir / "junk.pt").string();
  std::ofstream(path) << "not a zip";
  DataSpec data;
  EXPECT_TRUE(contains(error_of([&] {
                         TorchScriptTeacher(path, {"logits", 19}, data.mean, data.std, {}, torch::kCPU);
                       }),
                       "cannot load TorchScript model " + path));
  EXPECT_TRUE(
      contains(error_of([&] {
                 TorchScriptTeacher((dir / "none.pt").string(), {"logits", 19}, data.mean, data.std, {}, torch::kCPU);
               }),
               "does not exist"));
}

}  // namespace
}  // namespace segtransfer
