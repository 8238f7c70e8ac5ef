#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/image_selection.h"

namespace segtransfer::cli {

void add_select_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    int64_t count = 0;
    double share = 0;
    std::string method = "kcenter", out;
    uint64_t seed = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "select", "choose which target images to ask the black box about when the budget covers only some (a list file)");
  args->config.add_to(*cmd, /*allow_run_dir=*/false);
  auto* count = cmd->add_option("--count", args->count, "how many images")->check(CLI::PositiveNumber);
  auto* share = cmd->add_option("--share", args->share, "or which share of them (0..1]")->check(CLI::Range(0.0, 1.0));
  count->excludes(share);
  cmd->add_option("--method", args->method, "kcenter (spread over the set) | random")
      ->check(CLI::IsMember({"kcenter", "random"}));
  cmd->add_option("--seed", args->seed, "the first k-centre image / the random draw");
  cmd->add_option("-o,--out", args->out, "the list file to write: one stem per line")->required();
  cmd->footer(
      "The images are data.target. Then ask and train on the chosen ones only:\n"
      "  segtransfer select -c configs/camvid/query_espnet.yaml --share 0.25 -o runs/camvid/quarter.txt\n"
      "  segtransfer query -c configs/camvid/query_espnet.yaml --set data.target.list=runs/camvid/quarter.txt\n"
      "  segtransfer train -c configs/camvid/student.yaml --set data.target.list=runs/camvid/quarter.txt");
  cmd->callback([args] {
    if (args->count == 0 && args->share == 0) throw Error("select: give --count N or --share F");
    const RunConfig cfg = args->config.load();
    if (cfg.data.target.empty()) throw Error("select: the config has no data.target to choose from");
    const auto images = open_dataset(cfg.data.target);
    const auto total = static_cast<int64_t>(images->size());
    const int64_t n = args->count > 0 ? args->count : std::max<int64_t>(1, std::llround(args->share * total));
    if (n > total) throw Error(fmt::format("select: --count {} but data.target has {} images", n, total));
    const cv::Mat embeddings = embed_dataset(*images);
    const auto chosen = select_images(
        embeddings, n, args->method == "random" ? SelectionMethod::kRandom : SelectionMethod::kKCenter, args->seed);
    std::string list;
    for (const int64_t i : chosen) list += images->files()[i].stem + "\n";
    write_text_atomically(args->out, list);
    const auto [largest, mean] = coverage_distances(embeddings, chosen);
    std::cout << fmt::format(
        "selected {} of {} images of {} ({}, seed {}): {}\n"
        "coverage: every image lies within {:.3f} of a chosen one (mean {:.3f}; embedding distance)\n",
        n, total, images->description(), args->method == "random" ? "random" : "k-centre on colour and edge statistics",
        args->seed, args->out, largest, mean);
  });
}

}  // namespace segtransfer::cli
