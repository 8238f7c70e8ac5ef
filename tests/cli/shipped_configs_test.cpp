// Every config shipped in configs/ is valid against the schema and finds its data
// in the documented layouts (trees generated here, a few tiny images each).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "core/config.h"
#include "engine/trainer.h"
#include "test_util.h"

using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void write_png(const fs::path& path, const cv::Mat& image) {
  fs::create_directories(path.parent_path());
  ASSERT_TRUE(cv::imwrite(path.string(), image)) << path;
}

const cv::Mat kImage(32, 64, CV_8UC3, cv::Scalar(90, 120, 150));
const cv::Mat kLabel(32, 64, CV_8UC1, cv::Scalar(7));

// data/{gta5,synthia,cityscapes,acdc,camvid} as datasets.md describes them.
void write_dataset_trees(const fs::path& data) {
  for (const char* name : {"00001.png", "00002.png"}) {
    write_png(data / "gta5" / "images" / name, kImage);
    write_png(data / "gta5" / "labels" / name, kLabel);
    write_png(data / "synthia" / "RGB" / name, kImage);
    write_png(data / "synthia" / "GT" / "LABELS" / name, cv::Mat(32, 64, CV_16UC3, cv::Scalar(0, 0, 3)));
  }
  for (const char* split : {"train", "val"}) {
    write_png(data / "cityscapes" / "leftImg8bit" / split / "aachen" / "aachen_000000_000019_leftImg8bit.png", kImage);
    write_png(data / "cityscapes" / "gtFine" / split / "aachen" / "aachen_000000_000019_gtFine_labelIds.png", kLabel);
    for (const std::string sequence : {"GOPR0475", "GP010122"}) {  // one per condition: names are unique
      const std::string condition = sequence == "GOPR0475" ? "fog" : "night";
      write_png(data / "acdc" / "rgb_anon" / condition / split / sequence / (sequence + "_frame_000041_rgb_anon.png"),
                kImage);
      write_png(data / "acdc" / "gt" / condition / split / sequence / (sequence + "_frame_000041_gt_labelTrainIds.png"),
                cv::Mat(32, 64, CV_8UC1, cv::Scalar(0)));
    }
    write_png(data / "camvid" / split / "0001TP_006690.png", kImage);
    write_png(data / "camvid" / (std::string(split) + "annot") / "0001TP_006690.png",
              cv::Mat(32, 64, CV_8UC1, cv::Scalar(3)));
  }
}

std::vector<fs::path> shipped_configs() {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(SEGTRANSFER_SOURCE_DIR) / "configs"))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST(ShippedConfigs, EveryConfigDryRunsAgainstGeneratedTrees) {
  const auto configs = shipped_configs();
  ASSERT_GE(configs.size(), 60u);  // the four benchmarks' pipelines and the synthetic ones
  TempDir dir;
  write_dataset_trees(dir / "data");
  // The synthetic benchmark's configs read data/synth/{source,target} (GTA5 and Cityscapes layouts).
  fs::create_directories(dir / "data" / "synth");
  fs::copy(dir / "data" / "gta5", dir / "data" / "synth" / "source", fs::copy_options::recursive);
  fs::copy(dir / "data" / "cityscapes", dir / "data" / "synth" / "target", fs::copy_options::recursive);
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path());  // the configs' paths are relative to where segtransfer runs
  for (const fs::path& file : configs) {
    SCOPED_TRACE(file.string());
    try {
      const segtransfer::RunConfig cfg = segtransfer::load_config(file.string());
      const std::string report = segtransfer::dry_run(cfg);
      EXPECT_NE(report.find("config OK"), std::string::npos) << report;
      // A config that trains names a dataset it trains on.
      EXPECT_TRUE(report.find("data.source") != std::string::npos || report.find("data.target") != std::string::npos)
          << report;
    } catch (const segtransfer::Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
  fs::current_path(previous);
}

TEST(ShippedConfigs, PipelineInputsAreNamedInTheDryRun) {
  TempDir dir;
  write_dataset_trees(dir / "data");
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path());
  const auto cfg = segtransfer::load_config(std::string(SEGTRANSFER_SOURCE_DIR) +
                                            "/configs/gta5_to_cityscapes/dual_teacher_lraspp_large.yaml");
  const std::string report = segtransfer::dry_run(cfg);
  fs::current_path(previous);
  EXPECT_NE(report.find("dual_teacher.teacher_weights: runs/gta5_to_cityscapes/teacher_deeplabv2_r101/model.pt (not "
                        "there yet"),
            std::string::npos)
      << report;
}
