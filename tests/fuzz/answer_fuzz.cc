// libFuzzer target: an HTTP black box's answer body (.npy probabilities or logits,
// or a PNG label map), decoded, checked and resized as `segtransfer query` does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "teachers/teacher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks what the answer is declared to be; the rest is the body.
  static const char* kOutputs[] = {"probabilities", "logits", "labels"};
  const segtransfer::AnswerFormat format{kOutputs[data[0] % 3], 1 + (data[0] >> 2) % 19};
  try {
    segtransfer::decode_answer_bytes(std::string(reinterpret_cast<const char*>(data + 1), size - 1), format,
                                     cv::Size(12, 8), "fuzz answer");
  } catch (const segtransfer::Error&) {
  }
  return 0;
}
