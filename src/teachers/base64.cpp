#include "teachers/base64.h"

#include <array>

#include "core/error.h"

namespace segtransfer {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::array<int, 256> decoding_table() {
  std::array<int, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = i;
  return table;
}

}  // namespace

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t chunk = 0;
    for (size_t k = 0; k < 3; ++k) chunk = chunk << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[chunk >> (18 - 6 * k) & 63] : '=';
  }
  return out;
}

std::string base64_decode(const std::string& text, const std::string& what) {
  static const std::array<int, 256> table = decoding_table();
  std::string compact;
  for (char c : text)
    if (c != '\n' && c != '\r') compact += c;
  if (compact.size() % 4 != 0)
    throw Error(what + ": base64 text of length " + std::to_string(compact.size()) + " (not a multiple of 4)");
  std::string out;
  out.reserve(compact.size() / 4 * 3);
  for (size_t i = 0; i < compact.size(); i += 4) {
    uint32_t chunk = 0;
    int padding = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = compact[i + k];
      const bool pad = c == '=' && i + 4 == compact.size() && k >= 2;
      const int value = pad ? 0 : table[static_cast<unsigned char>(c)];
      if (value < 0 || (padding > 0 && !pad))
        throw Error(what + ": not base64 (character '" + std::string(1, c) + "')");
      padding += pad;
      chunk = chunk << 6 | static_cast<uint32_t>(value);
    }
    for (int k = 0; k < 3 - padding; ++k) out += static_cast<char>(chunk >> (16 - 8 * k) & 0xff);
  }
  return out;
}

}  // namespace segtransfer
