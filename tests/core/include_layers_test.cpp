// The layers of src/ depend one way: core < data < models < parallel < teachers < eval
// < methods < engine < cli. A file may include its own layer and the ones below it,
// never one above (docs: README "Layout"). This test reads every #include "layer/..."
// of src/ and fails on one against that order, so the layering stays true.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kLayers = {"core", "data",    "models", "parallel", "teachers",
                                          "eval", "methods", "engine", "cli"};

int rank_of(const std::string& layer) {
  const auto it = std::find(kLayers.begin(), kLayers.end(), layer);
  return it == kLayers.end() ? -1 : static_cast<int>(it - kLayers.begin());
}

// "file:line includes X: layer A may not include layer B" for each include against the order,
// and for a folder of src/ that is in no layer.
std::vector<std::string> layering_violations(const fs::path& src) {
  std::vector<std::string> out;
  const std::regex include(R"re(^\s*#\s*include\s*"([a-z_]+)/[^"]+")re");
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    const auto ext = e.path().extension();
    if (ext != ".h" && ext != ".cpp") continue;
    const std::string layer = fs::relative(e.path(), src).begin()->string();
    const int own = rank_of(layer);
    if (own < 0) {
      out.push_back(e.path().string() + ": folder '" + layer + "' is in no layer of the table");
      continue;
    }
    std::ifstream in(e.path());
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      std::smatch m;
      if (!std::regex_search(line, m, include)) continue;
      const int target = rank_of(m[1]);
      if (target > own || target < 0)
        out.push_back(e.path().string() + ":" + std::to_string(line_no) + " includes " +
                      m[0].str().substr(m[0].str().find('"')) + ": layer " + layer + " may not include layer " +
                      m[1].str());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(IncludeLayers, SrcIncludesOnlyItsOwnAndLowerLayers) {
  const auto violations = layering_violations(fs::path(SEGTRANSFER_SOURCE_DIR) / "src");
  std::string all;
  for (const auto& v : violations) all += v + "\n";
  EXPECT_TRUE(violations.empty()) << all;
}

// The check itself: an include against the order is reported, by file and line.
TEST(IncludeLayers, AnUpwardIncludeIsReported) {
  segtransfer::testing::TempDir dir;
  fs::create_directories(dir / "src" / "teachers");
  fs::create_directories(dir / "src" / "engine");
  segtransfer::write_text_atomically(dir / "src" / "engine" / "ok.cpp", "#include \"teachers/teacher.h\"\n");
  segtransfer::write_text_atomically(
      dir / "src" / "teachers" / "bad.cpp",
      "#include <vector>\n#include \"core/error.h\"\n#include \"engine/checkpoint.h\"\n");
  const auto violations = layering_violations(dir / "src");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_NE(violations[0].find("bad.cpp:3"), std::string::npos) << violations[0];
  EXPECT_NE(violations[0].find("layer teachers may not include layer engine"), std::string::npos) << violations[0];
}

}  // namespace
