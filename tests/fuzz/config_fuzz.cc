// libFuzzer target: the YAML config loader (schema merge, types, overrides).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Inputs with a newline-free tail also go through the --set path.
  const size_t split = text.rfind('\n');
  const std::vector<std::string> overrides =
      split == std::string::npos || split + 1 >= text.size() ? std::vector<std::string>{}
                                                           : std::vector<std::string>{text.substr(split + 1)};
  try {
    segtransfer::load_config_text(text, overrides, "fuzz.yaml");
  } catch (const segtransfer::Error&) {
  }
  return 0;
}
