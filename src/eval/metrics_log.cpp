#include "eval/metrics_log.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"

namespace segtransfer {

void write_metrics_csv(const std::filesystem::path& metrics_jsonl, const std::filesystem::path& csv) {
  std::ifstream in(metrics_jsonl);
  if (!in) throw Error("cannot read " + metrics_jsonl.string());
  // iteration -> column -> value; std::map keeps the rows in iteration order.
  std::map<int64_t, std::map<std::string, double>> rows;
  std::set<std::string> train_columns;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw Error(fmt::format("{}:{}: not a JSON line", metrics_jsonl.string(), number));
    }
    auto& row = rows[j.value("iter", int64_t{0})];
    if (j.contains("eval")) {
      row["val_miou"] = j["eval"].value("miou", 0.0);
      row["val_pixel_accuracy"] = j["eval"].value("pixel_accuracy", 0.0);
      continue;
    }
    for (const auto& [key, value] : j.items()) {
      if (key == "iter" || !value.is_number()) continue;
      row[key] = value.get<double>();
      train_columns.insert(key);
    }
  }
  std::vector<std::string> columns(train_columns.begin(), train_columns.end());
  columns.insert(columns.end(), {"val_miou", "val_pixel_accuracy"});
  std::string out = "iter";
  for (const auto& c : columns) out += "," + c;
  out += "\n";
  for (const auto& [iter, values] : rows) {
    out += std::to_string(iter);
    for (const auto& c : columns) {
      const auto it = values.find(c);
      out += it == values.end() ? "," : fmt::format(",{:.6g}", it->second);
    }
    out += "\n";
  }
  write_text_atomically(csv, out);
}

}  // namespace segtransfer
