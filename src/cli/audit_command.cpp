#include <iostream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "methods/common/pseudo_label_audit.h"
#include "methods/corte.h"

namespace segtransfer::cli {

void add_audit_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string store, out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "audit",
      "what a black-box method's thresholds keep of the stored answers, per class (and how right, with labels)");
  args->config.add_to(*cmd, /*allow_run_dir=*/true);
  cmd->add_option("--store", args->store, "prediction store folder (default: the config's store.path)");
  cmd->add_option("-o,--out", args->out, "also write the Markdown table here (and the JSON beside it)");
  cmd->footer(
      "The images are data.target, with the thresholds of the config's method (corte.pseudo_labels,\n"
      "corte.thresholds, ...). With data.target.labels=true the kept labels are scored against the\n"
      "ground truth; one global max-probability threshold keeping as many pixels is shown beside them.\n"
      "Example (CamVid: the box asked about val for this diagnostic only):\n"
      "  segtransfer audit -c configs/camvid/student.yaml --store runs/camvid/store_espnet_val \\\n"
      "      --set data.target.split=val --set data.target.labels=true");
  cmd->callback([args] {
    RunConfig cfg = args->config.load();
    if (!args->store.empty()) cfg.store.path = args->store;
    if (cfg.store.path.empty()) throw Error("which answers? set store.path or pass --store DIR");
    if (cfg.data.target.empty()) throw Error("no images to audit: set data.target (type and root)");
    const CorteOptions opt = CorteOptions::for_method(cfg);
    const ThresholdRule rule = opt.threshold_rule();
    const PredictionStore store = PredictionStore::open(cfg.store.path);
    auto target = open_dataset(cfg.data.target);
    const ThresholdAudit audit = audit_thresholds(store, *target, rule, cfg.method);
    std::cout << audit.markdown();
    spdlog::info("{}", audit.summary());
    if (!args->out.empty()) {
      write_text_atomically(args->out, audit.markdown());
      write_text_atomically(args->out + ".json", audit.json.dump(2) + "\n");
    }
  });
}

}  // namespace segtransfer::cli
