// Runs the real `segtransfer` binary as a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/atomic_file.h"
#include "teachers/base64.h"
#include "teachers/fake_black_box.h"
#include "test_util.h"

using segtransfer::testing::CliResult;
using segtransfer::testing::run_cli;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void write_tiny_gta(const fs::path& root, int count) {
  fs::create_directories(root / "images");
  fs::create_directories(root / "labels");
  for (int i = 0; i < count; ++i) {
    cv::Mat label(24, 40, CV_8UC1, cv::Scalar(7));
    label(cv::Rect(0, 0, 40, 8)).setTo(23);
    cv::Mat image(24, 40, CV_8UC3, cv::Scalar(40, 40, 40));
    image.setTo(cv::Scalar(200, 120, 60), label == 23);
    char name[16];
    std::snprintf(name, sizeof name, "%05d.png", i + 1);
    cv::imwrite((root / "images" / name).string(), image);
    cv::imwrite((root / "labels" / name).string(), label);
  }
}

}  // namespace

TEST(Cli, UnknownOptionFailsWithMessage) {
  CliResult r = run_cli("train --no-such-option");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("no-such-option"), std::string::npos) << r.output;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"demo", "synth", "query", "train", "eval", "predict", "export", "compare", "curve", "report",
                          "serve", "models", "config", "audit", "select", "reliability"}) {
    CliResult r = run_cli(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.output.find("Options"), std::string::npos) << sub << ": " << r.output;
  }
}

TEST(Cli, HelpShowsDefaults) {
  const CliResult r = run_cli("models --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("=19 "), std::string::npos) << r.output;        // --classes
  EXPECT_NE(r.output.find("=1024x512 "), std::string::npos) << r.output;  // --size
}

TEST(Cli, ConfigTypoIsNamed) {
  TempDir dir;
  segtransfer::write_text_atomically(dir / "c.yaml", "train:\n  iteratons: 5\n");
  CliResult r = run_cli("train --dry-run -c " + (dir / "c.yaml").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("error: unknown config key 'train.iteratons'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("c.yaml"), std::string::npos) << r.output;
}

TEST(Cli, DryRunChecksDataTree) {
  TempDir dir;
  write_tiny_gta(dir / "gta", 2);
  segtransfer::write_text_atomically(dir / "c.yaml",
                                     "data:\n  source: {type: gta5, root: " + (dir / "gta").string() + "}\n");
  CliResult ok = run_cli("train --dry-run -c " + (dir / "c.yaml").string());
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("2 images"), std::string::npos) << ok.output;
  CliResult missing = run_cli("train --dry-run -c " + (dir / "c.yaml").string() +
                              " --set data.source.root=" + (dir / "nowhere").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("nowhere"), std::string::npos) << missing.output;
}

TEST(Cli, TrainThenEvalAndPredict) {
  TempDir dir;
  write_tiny_gta(dir / "gta", 3);
  std::string common =
      "--set data.source.type=gta5 --set data.source.root=" + (dir / "gta").string() +
      " --set data.val.type=gta5 --set data.val.split=train --set data.val.root=" + (dir / "gta").string() +
      " --set train.iterations=2 --set train.batch_size=1 --set train.threads=1";
  CliResult t = run_cli("train " + common + " -o " + (dir / "run").string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_TRUE(fs::exists(dir / "run" / "model.pt"));
  EXPECT_TRUE(fs::exists(dir / "run" / "metrics.json"));
  EXPECT_TRUE(fs::exists(dir / "run" / "report.html"));
  EXPECT_TRUE(fs::exists(dir / "run" / "qualitative.png"));
  EXPECT_NE(t.output.find("mIoU"), std::string::npos) << t.output;

  CliResult e = run_cli("eval --run " + (dir / "run").string() + " --json " + (dir / "m.json").string());
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("road"), std::string::npos) << e.output;
  EXPECT_TRUE(fs::exists(dir / "m.json"));

  CliResult p = run_cli("predict --run " + (dir / "run").string() + " --input " + (dir / "gta" / "images").string() +
                        " --out " + (dir / "pred").string());
  ASSERT_EQ(p.code, 0) << p.output;
  cv::Mat ids = cv::imread((dir / "pred" / "00001.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.type(), CV_8UC1);
  EXPECT_EQ(ids.cols, 40);
  EXPECT_TRUE(fs::exists(dir / "pred" / "00001_colour.png"));
  EXPECT_TRUE(fs::exists(dir / "pred" / "00001_overlay.png"));
  double max_id;
  cv::minMaxLoc(ids, nullptr, &max_id);
  EXPECT_LT(max_id, 19);

  CliResult bad = run_cli("predict --run " + (dir / "run").string() + " --input " + (dir / "none").string() +
                          " --out " + (dir / "pred2").string());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("none"), std::string::npos);

  // The deployment path: ONNX export, then predict with OpenCV DNN gives the same label maps.
  CliResult x = run_cli("export --run " + (dir / "run").string() + " -o " + (dir / "deploy" / "student.onnx").string() +
                        " --size 40x24");
  ASSERT_EQ(x.code, 0) << x.output;
  EXPECT_NE(x.output.find("checked in OpenCV DNN"), std::string::npos) << x.output;
  for (const char* f : {"student.onnx", "student.json", "student_weights.pt"})
    EXPECT_TRUE(fs::exists(dir / "deploy" / f)) << f;
  EXPECT_FALSE(fs::exists(dir / "deploy" / "student.onnx.unchecked"));
  CliResult po = run_cli("predict --onnx " + (dir / "deploy" / "student.onnx").string() + " --input " +
                         (dir / "gta" / "images").string() + " --out " + (dir / "pred_onnx").string());
  ASSERT_EQ(po.code, 0) << po.output;
  for (const char* f : {"00001.png", "00002.png", "00003.png"}) {
    cv::Mat a = cv::imread((dir / "pred" / f).string(), cv::IMREAD_UNCHANGED);
    cv::Mat b = cv::imread((dir / "pred_onnx" / f).string(), cv::IMREAD_UNCHANGED);
    ASSERT_EQ(a.size(), b.size()) << f;
    EXPECT_LE(cv::countNonZero(a != b), 2) << f;  // ties in the argmax aside
  }
  CliResult mixed =
      run_cli("predict --onnx " + (dir / "deploy" / "student.onnx").string() + " --run " + (dir / "run").string() +
              " --input " + (dir / "gta" / "images").string() + " --out " + (dir / "pred3").string());
  EXPECT_EQ(mixed.code, 1);
  EXPECT_NE(mixed.output.find("--onnx runs the exported file alone"), std::string::npos) << mixed.output;
  CliResult ext =
      run_cli("export --run " + (dir / "run").string() + " -o " + (dir / "m.bin").string() + " --size 40x24");
  EXPECT_EQ(ext.code, 1);
  EXPECT_NE(ext.output.find(".onnx or .pt"), std::string::npos) << ext.output;
}

TEST(Cli, CompareNamesABadRowAndAMissingRun) {
  CliResult r = run_cli("compare plain");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("LABEL=RUN"), std::string::npos) << r.output;
  r = run_cli("compare plain=/nonexistent/run_s0");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("/nonexistent/run_s0 has no metrics.json"), std::string::npos) << r.output;
}

// mIoU against something other than minutes (the requests a store cost): points at their @X.
TEST(Cli, CurvePlacesPointsAtTheirX) {
  TempDir dir;
  for (const auto& [name, miou] : {std::pair{"quarter", 0.3}, std::pair{"all", 0.4}}) {
    const nlohmann::json metrics = {
        {"protocol", "all"}, {"classes", {0, 1}},     {"iou", {{"Sky", miou}, {"Road", miou}}},
        {"miou", miou},      {"pixel_accuracy", 0.8}, {"images", 3}};
    segtransfer::write_text_atomically((dir / (std::string(name) + ".json")).string(), metrics.dump());
  }
  const std::string quarter = (dir / "quarter.json").string(), all = (dir / "all.json").string();
  const std::string png = (dir / "budget.png").string();
  CliResult r = run_cli("curve \"k-centre=" + quarter + "@92," + all + "@367\" --x-label requests -o " + png);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(cv::imread(png).empty());

  r = run_cli("curve \"k-centre=" + quarter + "@92," + all + "\" -o " + png);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("give every point an @X or none"), std::string::npos) << r.output;
  r = run_cli("curve \"k-centre=" + quarter + "@many\" -o " + png);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("'@many' is not a number"), std::string::npos) << r.output;
  r = run_cli("curve \"k-centre=" + quarter + "\" -o " + png);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("logged no training time"), std::string::npos) << r.output;
}

// How good is the black box, and what do its thresholds keep: `eval --teacher` and `audit`
// over a label-only box (a folder of PNG answers) on a labelled CamVid split.
TEST(Cli, ScoresTheBlackBoxAndAuditsItsPseudoLabels) {
  TempDir dir;
  const fs::path camvid = dir / "camvid", answers = dir / "answers";
  for (const fs::path& d : {camvid / "val", camvid / "valannot", answers}) fs::create_directories(d);
  for (const char* stem : {"a", "b"}) {
    cv::imwrite((camvid / "val" / (std::string(stem) + ".png")).string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
    cv::Mat truth(8, 8, CV_8UC1, cv::Scalar(3));  // road
    truth.rowRange(0, 2).setTo(0);                // sky
    cv::imwrite((camvid / "valannot" / (std::string(stem) + ".png")).string(), truth);
    cv::Mat answer(8, 8, CV_8UC1, cv::Scalar(3));  // road everywhere: the sky rows are wrong
    cv::imwrite((answers / (std::string(stem) + ".png")).string(), answer);
  }
  segtransfer::write_text_atomically(dir / "c.yaml",
                                     fmt::format(R"(model: {{name: lraspp_mobilenet_v3_small, num_classes: 11}}
data:
  target: {{type: camvid, root: {0}, split: val, labels: true}}
  val: {{type: camvid, root: {0}, split: val}}
teacher: {{type: folder, path: {1}, output: labels, num_classes: 11}}
store: {{path: {2}}}
)",
                                                 camvid.string(), answers.string(), (dir / "store").string()));
  const std::string config = " -c " + (dir / "c.yaml").string();
  CliResult eval = run_cli("eval --teacher --json " + (dir / "box.json").string() + config);
  ASSERT_EQ(eval.code, 0) << eval.output;
  EXPECT_NE(eval.output.find("2 requests to the teacher"), std::string::npos) << eval.output;
  const auto box = nlohmann::json::parse(segtransfer::read_text_file(dir / "box.json"));
  EXPECT_NEAR(box["pixel_accuracy"].get<double>(), 0.75, 1e-9);
  EXPECT_NEAR(box["miou"].get<double>(), (0.0 + 0.75) / 2, 1e-9);  // sky 0, road 96/128

  ASSERT_EQ(run_cli("query" + config).code, 0);
  // The stored answers score as the asked ones did, without a request.
  CliResult stored = run_cli("eval --teacher --store " + (dir / "store").string() + " --json " +
                             (dir / "stored.json").string() + config);
  ASSERT_EQ(stored.code, 0) << stored.output;
  EXPECT_NEAR(nlohmann::json::parse(segtransfer::read_text_file(dir / "stored.json"))["miou"].get<double>(),
              box["miou"].get<double>(), 1e-9);
  EXPECT_NE(run_cli("eval --store " + (dir / "store").string() + config).code, 0);  // --store needs --teacher
  CliResult audit = run_cli("audit -o " + (dir / "audit.md").string() + config);
  ASSERT_EQ(audit.code, 0) << audit.output;
  // Label-only answers: every pixel kept, 75% of them right.
  EXPECT_NE(audit.output.find("keep 100.0% of the pixels, 75.0% of them right"), std::string::npos) << audit.output;
  EXPECT_TRUE(fs::exists(dir / "audit.md.json"));
  CliResult unlabelled = run_cli("eval --teacher" + config + " --set teacher.path=" + (dir / "nowhere").string());
  EXPECT_NE(unlabelled.code, 0);
  EXPECT_NE(unlabelled.output.find("nowhere"), std::string::npos) << unlabelled.output;
}

// The demo decides the iterations, method and output of each of its steps: a --set of
// one of them would be overridden without a word, so it is refused by name.
TEST(Cli, DemoRefusesASetItWouldOverride) {
  TempDir dir;
  CliResult r =
      run_cli("demo --set train.iterations=2500 --data " + (dir / "data").string() + " -o " + (dir / "demo").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--source-iterations"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "data")) << "refused before generating anything";
}

// A vendor API's key, read from the environment through teacher.headers, reaches the
// server but never the query's log, the store, or the config segtransfer prints.
TEST(Cli, ApiKeyNeverLeavesTheEnvironment) {
  const std::string secret = "sk-live-5f0e2b9d";
  setenv("SEGTRANSFER_TEST_API_KEY", secret.c_str(), 1);
  segtransfer::testing::FakeBlackBox box(
      [&](const httplib::Request& req, httplib::Response& res, int64_t) {
        if (req.get_header_value("X-Api-Key") != secret) {
          res.status = 401;
          return;
        }
        cv::Mat labels(8, 8, CV_8UC1, cv::Scalar(3));
        std::vector<uchar> png;
        cv::imencode(".png", labels, png);
        res.set_content(
            nlohmann::json{{"mask", segtransfer::base64_encode(std::string(png.begin(), png.end()))}}.dump(),
            "application/json");
      },
      /*json=*/true);
  TempDir dir;
  const fs::path camvid = dir / "camvid";
  fs::create_directories(camvid / "val");
  for (const char* stem : {"a", "b"})
    cv::imwrite((camvid / "val" / (std::string(stem) + ".png")).string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
  segtransfer::write_text_atomically(dir / "c.yaml",
                                     fmt::format(R"(model: {{name: lraspp_mobilenet_v3_small, num_classes: 11}}
data:
  target: {{type: camvid, root: {0}, split: val, labels: false}}
teacher:
  type: http
  url: {1}
  output: labels
  headers: ["X-Api-Key: ${{SEGTRANSFER_TEST_API_KEY}}"]
  request: json
  request_template: '{{"image": "${{IMAGE_BASE64}}"}}'
  answer: json
  answer_field: /mask
store: {{path: {2}, top_k: 1}}
)",
                                                 camvid.string(), box.url(), (dir / "store").string()));
  const std::string config = " -c " + (dir / "c.yaml").string();
  CliResult query = run_cli("-v query" + config);
  ASSERT_EQ(query.code, 0) << query.output;
  EXPECT_EQ(box.seen(), 2);
  EXPECT_EQ(query.output.find(secret), std::string::npos) << query.output;
  for (const auto& e : fs::recursive_directory_iterator(dir / "store"))
    if (e.is_regular_file())
      EXPECT_EQ(segtransfer::read_text_file(e.path()).find(secret), std::string::npos) << e.path();
  CliResult printed = run_cli("config" + config);
  ASSERT_EQ(printed.code, 0) << printed.output;
  EXPECT_EQ(printed.output.find(secret), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find("${SEGTRANSFER_TEST_API_KEY}"), std::string::npos) << printed.output;
}
