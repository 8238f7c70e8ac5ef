// The training code stays readable: no function in src/engine or src/methods runs
// over 80 lines (issue 20). Functions are found the way this code base writes them:
// a definition starts at column 0 with a signature, its body ends at a column-0 `}`.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

constexpr int kMaxLines = 80;

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// "file:line: N lines (signature)" for each function of `text` longer than kMaxLines.
std::vector<std::string> long_functions(const std::string& text, const std::string& file) {
  std::vector<std::string> out;
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  int start = -1;
  bool body = false;
  for (int i = 0; i < static_cast<int>(lines.size()); ++i) {
    const std::string& l = lines[i];
    if (start < 0) {
      const bool signature = !l.empty() && !std::isspace(static_cast<unsigned char>(l[0])) &&
                             l.find('(') != std::string::npos && l.back() != ';' && l.back() != '}';
      const bool other = starts_with(l, "#") || starts_with(l, "//") || starts_with(l, "}") ||
                         starts_with(l, "namespace") || starts_with(l, "struct") || starts_with(l, "class") ||
                         starts_with(l, "enum") || starts_with(l, "template") || starts_with(l, "using");
      if (signature && !other) start = i, body = l.find('{') != std::string::npos;
    } else if (starts_with(l, "}")) {
      if (body && i - start + 1 > kMaxLines)
        out.push_back(file + ":" + std::to_string(start + 1) + ": " + std::to_string(i - start + 1) + " lines (" +
                      lines[start].substr(0, 60) + ")");
      start = -1;
    } else if (!body) {
      if (l.find('{') != std::string::npos)
        body = true;
      else if (!l.empty() && l.back() == ';')
        start = -1;  // a declaration, not a definition
    }
  }
  return out;
}

}  // namespace

TEST(FunctionLength, EngineAndMethodsStayUnderTheLimit) {
  const fs::path src = fs::path(SEGTRANSFER_SOURCE_DIR) / "src";
  std::vector<std::string> found;
  for (const char* layer : {"engine", "methods"})
    for (const auto& e : fs::recursive_directory_iterator(src / layer))
      if (e.path().extension() == ".cpp")
        for (auto& f : long_functions(segtransfer::read_text_file(e.path()), fs::relative(e.path(), src).string()))
          found.push_back(f);
  std::string list;
  for (const auto& f : found) list += "\n  " + f;
  EXPECT_TRUE(found.empty()) << "functions over " << kMaxLines << " lines:" << list;
}

// The finder itself: a long definition (signature over two lines) is caught, a
// declaration and a short function are not.
TEST(FunctionLength, TheFinderCatchesALongDefinition) {
  std::string text = "int declared(int a,\n             int b);\nint short_one() { return 1; }\n";
  text += "void long_one(int a,\n              int b) {\n";
  for (int i = 0; i < kMaxLines; ++i) text += "  ++a;\n";
  text += "}\n";
  const auto found = long_functions(text, "x.cpp");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("x.cpp:4: 83 lines (void long_one"), std::string::npos) << found[0];
}
