// libFuzzer target: the prediction store's entry reader — any bytes as a stored
// answer must read back as a valid entry or be rejected (checksum, header, sizes).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "teachers/prediction_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const segtransfer::PredictionStore store = segtransfer::PredictionStore::open_for_writing(
      (fs::temp_directory_path() / ("segtransfer_store_fuzz_" + std::to_string(::getpid()))).string(),
      {2, 19, "fuzz"});
  {
    std::ofstream out(store.entry_path("fuzz"), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    if (store.has_valid_entry("fuzz")) store.read("fuzz");
    store.read("fuzz");
  } catch (const segtransfer::Error&) {
  }
  return 0;
}
