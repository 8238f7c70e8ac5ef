#include "eval/metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

using namespace segtransfer;

namespace {

// A hand-checkable 3-class example (ignore = 255):
//   target: 0 0 0 1 1 1 255 255 2 9
//   pred:   0 0 2 1 1 5   0   2 0 0
// Valid pixels: the first six, the 2 → 0 and nothing of target 9 (out of range).
// Pred 5 is out of range: a miss for class 1 and a hit for no class.
torch::Tensor example_target() { return torch::tensor({0, 0, 0, 1, 1, 1, 255, 255, 2, 9}, torch::kLong); }
torch::Tensor example_pred() { return torch::tensor({0, 0, 2, 1, 1, 5, 0, 2, 0, 0}, torch::kLong); }

// Cityscapes-19 matrix: every class right except terrain(9), truck(14) and train(16),
// which are confused among themselves.
ConfusionMatrix cityscapes_matrix() {
  std::vector<int64_t> target, pred;
  for (int c = 0; c < 19; ++c) {
    target.push_back(c);
    pred.push_back(c == 9 ? 14 : c == 14 ? 16 : c == 16 ? 9 : c);
  }
  ConfusionMatrix cm(19);
  cm.add(torch::tensor(pred), torch::tensor(target));
  return cm;
}

}  // namespace

TEST(ConfusionMatrix, HandComputedExample) {
  ConfusionMatrix cm(3);
  cm.add(example_pred().view({2, 5}), example_target().view({2, 5}));
  EXPECT_EQ(cm.at(0, 0), 2);
  EXPECT_EQ(cm.at(0, 2), 1);
  EXPECT_EQ(cm.at(1, 1), 2);
  EXPECT_EQ(cm.at(2, 0), 1);
  int64_t total = 0;
  for (auto v : cm.counts()) total += v;
  EXPECT_EQ(total, 6);  // the out-of-range prediction is not in the C×C matrix

  const auto iou = cm.iou();
  ASSERT_EQ(iou.size(), 3u);
  EXPECT_DOUBLE_EQ(iou[0], 2.0 / 4.0);  // TP 2, FN 1 (→2), FP 1 (from 2)
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / 3.0);  // TP 2, FN 1 (out-of-range prediction), no FP
  EXPECT_DOUBLE_EQ(iou[2], 0.0);        // TP 0, FN 1, FP 1
  EXPECT_DOUBLE_EQ(cm.mean_iou(), (0.5 + 2.0 / 3.0 + 0.0) / 3.0);
  EXPECT_DOUBLE_EQ(cm.mean_iou({0, 1}), (0.5 + 2.0 / 3.0) / 2.0);
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 4.0 / 7.0);
}

TEST(ConfusionMatrix, AbsentClassIsNaNAndSkippedInTheMean) {
  ConfusionMatrix cm(4);
  cm.add(example_pred(), example_target());
  const auto iou = cm.iou();
  EXPECT_TRUE(std::isnan(iou[3]));
  EXPECT_DOUBLE_EQ(cm.mean_iou(), (0.5 + 2.0 / 3.0 + 0.0) / 3.0);
  EXPECT_TRUE(std::isnan(cm.mean_iou({3})));
  EXPECT_TRUE(std::isnan(ConfusionMatrix(2).pixel_accuracy()));
}

TEST(ConfusionMatrix, CustomIgnoreIndex) {
  ConfusionMatrix cm(3, /*ignore_index=*/1);
  cm.add(torch::tensor({0, 2, 2}, torch::kLong), torch::tensor({0, 1, 2}, torch::kLong));
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 1.0);
  EXPECT_TRUE(std::isnan(cm.iou()[1]));
}

TEST(ConfusionMatrix, MergeEqualsOneAdd) {
  ConfusionMatrix whole(3), first(3), second(3);
  whole.add(example_pred(), example_target());
  first.add(example_pred().slice(0, 0, 4), example_target().slice(0, 0, 4));
  second.add(example_pred().slice(0, 4), example_target().slice(0, 4));
  first.merge(second);
  EXPECT_EQ(first.counts(), whole.counts());
  EXPECT_EQ(first.iou(), whole.iou());
  EXPECT_DOUBLE_EQ(first.pixel_accuracy(), whole.pixel_accuracy());
  EXPECT_THROW(first.merge(ConfusionMatrix(4)), Error);
}

TEST(ConfusionMatrix, RejectsBadInput) {
  ConfusionMatrix cm(3);
  EXPECT_THROW(cm.add(torch::zeros({2, 3}, torch::kLong), torch::zeros({3, 2}, torch::kLong)), Error);
  EXPECT_THROW(cm.add(torch::zeros({4}), torch::zeros({4}, torch::kLong)), Error);
  EXPECT_THROW(cm.mean_iou({3}), Error);
  EXPECT_THROW(ConfusionMatrix(0), Error);
}

TEST(Summarise, ProtocolsScoreTheRightClasses) {
  const auto cm = cityscapes_matrix();
  const auto space = LabelSpace::cityscapes19();

  const auto r16 = summarise(cm, space, "16");
  EXPECT_EQ(r16.protocol, "16");
  EXPECT_EQ(r16.classes, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18}));
  EXPECT_DOUBLE_EQ(r16.miou, 1.0);
  EXPECT_EQ(r16.iou.size(), 19u);
  EXPECT_EQ(r16.names.size(), 19u);
  EXPECT_DOUBLE_EQ(r16.pixel_accuracy, 16.0 / 19.0);

  const auto r13 = summarise(cm, space, "13");
  EXPECT_EQ(r13.classes, (std::vector<int>{0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18}));
  EXPECT_DOUBLE_EQ(r13.miou, 1.0);

  const auto all = summarise(cm, space, "");
  EXPECT_EQ(all.protocol, "all");
  EXPECT_EQ(all.classes.size(), 19u);
  EXPECT_DOUBLE_EQ(all.miou, 16.0 / 19.0);

  EXPECT_THROW(summarise(ConfusionMatrix(3), space, ""), Error);
}

TEST(Report, JsonHasEveryField) {
  auto r = summarise(cityscapes_matrix(), LabelSpace::cityscapes19(), "16");
  r.images = 7;
  r.seconds = 1.5;
  const auto j = nlohmann::json::parse(to_json(r));
  EXPECT_EQ(j.at("protocol"), "16");
  EXPECT_EQ(j.at("classes").size(), 16u);
  EXPECT_EQ(j.at("iou").size(), 19u);
  EXPECT_DOUBLE_EQ(j.at("iou").at("road").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("iou").at("terrain").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j.at("miou").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("pixel_accuracy").get<double>(), 16.0 / 19.0);
  EXPECT_EQ(j.at("images").get<int>(), 7);
  EXPECT_DOUBLE_EQ(j.at("seconds").get<double>(), 1.5);

  ConfusionMatrix absent(3);
  absent.add(torch::tensor({0}, torch::kLong), torch::tensor({0}, torch::kLong));
  LabelSpace tiny;
  tiny.classes = {"a", "b", "c"};
  const auto k = nlohmann::json::parse(to_json(summarise(absent, tiny, "")));
  EXPECT_TRUE(k.at("iou").at("b").is_null());
  EXPECT_DOUBLE_EQ(k.at("miou").get<double>(), 1.0);
}

TEST(Report, TableNamesTheProtocol) {
  const auto cm = cityscapes_matrix();
  const auto space = LabelSpace::cityscapes19();
  const auto r16 = summarise(cm, space, "16");
  const auto table = format_table(r16, "GTA5 → Cityscapes");
  EXPECT_NE(table.find("GTA5 → Cityscapes"), std::string::npos);
  EXPECT_NE(table.find("road"), std::string::npos);
  EXPECT_EQ(table.find("terrain"), std::string::npos);  // not scored on protocol 16
  EXPECT_NE(table.find("mIoU16"), std::string::npos);
  EXPECT_NE(table.find("100.0"), std::string::npos);
  EXPECT_NE(table.find("84.2"), std::string::npos);  // pixel accuracy 16/19

  const auto all = summarise(cm, space, "");
  const auto table19 = format_table(all);
  EXPECT_NE(table19.find("terrain"), std::string::npos);
  EXPECT_NE(table19.find("mIoU19"), std::string::npos);
  EXPECT_NE(table19.find("84.2"), std::string::npos);
}

TEST(Report, ComparisonHasOneColumnPerResultAndMIoULast) {
  const auto space = LabelSpace::cityscapes19();
  const auto perfect_cm = [] {
    ConfusionMatrix cm(19);
    cm.add(torch::arange(19), torch::arange(19));
    return cm;
  }();
  const auto table = format_comparison(
      {{"teacher", summarise(perfect_cm, space, "16")}, {"student", summarise(cityscapes_matrix(), space, "16")}});
  EXPECT_NE(table.find("teacher"), std::string::npos);
  EXPECT_NE(table.find("student"), std::string::npos);
  EXPECT_EQ(table.find("terrain"), std::string::npos);
  EXPECT_NE(table.find("sidewalk"), std::string::npos);
  // The last line is the mIoU row.
  const auto body = table.substr(0, table.find_last_not_of('\n') + 1);
  const auto last_line = body.substr(body.rfind('\n') + 1);
  EXPECT_EQ(last_line.rfind("mIoU16", 0), 0u) << table;

  LabelSpace tiny;
  tiny.classes = {"a", "b", "c"};
  EXPECT_THROW(
      format_comparison({{"x", summarise(perfect_cm, space, "")}, {"y", summarise(ConfusionMatrix(3), tiny, "")}}),
      Error);
}
