// libFuzzer target: the .npy reader (black-box answers, prediction folders).
// Any input must parse or throw segtransfer::Error; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "teachers/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto t = segtransfer::parse_npy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
    (void)t.sum().item<float>();  // touch every element the header promised
  } catch (const segtransfer::Error&) {
  }
  return 0;
}
