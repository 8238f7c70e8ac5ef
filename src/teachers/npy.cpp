#include "teachers/npy.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

// The data is copied byte for byte: '<' (little-endian) files match the host only on a little-endian one.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy reader assumes a little-endian host");

namespace segtransfer {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kMaxDims = 32;
// np.save leaves room after the header dict to rewrite shape[0] in place with up to this many digits.
constexpr size_t kGrowthAxisMaxDigits = 21;
constexpr size_t kArrayAlign = 64;

// Untrusted text in an error message: printable ASCII only, and short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 40 ? out + "..." : out;
}

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// The header is a Python dict literal, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  Header parse() {
    Header h;
    bool has_descr = false, has_order = false, has_shape = false;
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (eat('}')) break;
      const std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr" && !has_descr) {
        if (peek() == '[') throw Error(fmt::format("{}: structured .npy arrays are not supported", what_));
        h.descr = parse_string();
        has_descr = true;
      } else if (key == "fortran_order" && !has_order) {
        h.fortran_order = parse_bool();
        has_order = true;
      } else if (key == "shape" && !has_shape) {
        h.shape = parse_shape();
        has_shape = true;
      } else {
        throw fail(fmt::format("unexpected or repeated key '{}'", printable(key)));
      }
      skip_space();
      if (eat(',')) continue;
      expect('}');
      break;
    }
    skip_space();
    if (pos_ != text_.size()) throw fail("characters after the closing brace");
    if (!has_descr || !has_order || !has_shape) throw fail("it lacks one of 'descr', 'fortran_order', 'shape'");
    return h;
  }

 private:
  Error fail(const std::string& why) const {
    return Error(fmt::format("{}: unparsable .npy header: {} (at header offset {})", what_, why, pos_));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) throw fail(fmt::format("expected '{}'", c));
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' || text_[pos_] == '\r'))
      ++pos_;
  }
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') throw fail("expected a quoted string");
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) throw fail("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool parse_bool() {
    for (const std::string_view word : {"True", "False"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return word == "True";
      }
    }
    throw fail("expected True or False");
  }
  std::vector<int64_t> parse_shape() {
    std::vector<int64_t> shape;
    expect('(');
    while (true) {
      skip_space();
      if (eat(')')) break;
      if (shape.size() == kMaxDims) throw fail(fmt::format("more than {} dimensions", kMaxDims));
      shape.push_back(parse_dim());
      eat('L');  // Python 2's long literals (3L)
      skip_space();
      if (eat(',')) continue;
      expect(')');
      break;
    }
    return shape;
  }
  int64_t parse_dim() {
    if (peek() < '0' || peek() > '9') throw fail("expected a non-negative integer dimension");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) throw fail("dimension too large");
      v = v * 10 + (text_[pos_++] - '0');
    }
    return v;
  }

  std::string_view text_;
  const std::string& what_;
  size_t pos_ = 0;
};

uint32_t read_le(const std::string& bytes, size_t offset, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset + i])) << (8 * i);
  return v;
}

}  // namespace

torch::Tensor parse_npy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < kMagicLen + 2 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    throw Error(fmt::format("{}: not a NumPy .npy file (bad magic)", what));
  const int major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  if (major < 1 || major > 3)
    throw Error(
        fmt::format("{}: unsupported .npy format version {}.{} (1.0, 2.0 and 3.0 are read)", what, major, minor));
  // Version 1.0 stores the header length in 2 bytes, 2.0 and 3.0 in 4 (3.0: the header is UTF-8).
  const size_t length_width = major == 1 ? 2 : 4;
  const size_t header_start = kMagicLen + 2 + length_width;
  if (bytes.size() < header_start)
    throw Error(fmt::format("{}: truncated .npy file ({} bytes, shorter than its preamble)", what, bytes.size()));
  const size_t header_len = read_le(bytes, kMagicLen + 2, length_width);
  if (header_len > bytes.size() - header_start)
    throw Error(fmt::format("{}: truncated .npy file (the header announces {} bytes, {} follow the preamble)", what,
                            header_len, bytes.size() - header_start));
  const Header h = HeaderParser(std::string_view(bytes).substr(header_start, header_len), what).parse();

  torch::ScalarType dtype;
  size_t item_size;
  if (h.descr == "<f2") {
    dtype = torch::kFloat16, item_size = 2;
  } else if (h.descr == "<f4") {
    dtype = torch::kFloat32, item_size = 4;
  } else if (h.descr == "<f8") {
    dtype = torch::kFloat64, item_size = 8;
  } else if (h.descr == "|u1") {
    dtype = torch::kUInt8, item_size = 1;
  } else if (!h.descr.empty() && h.descr[0] == '>') {
    throw Error(fmt::format("{}: big-endian .npy arrays (dtype '{}') are not supported; save a little-endian array",
                            what, printable(h.descr)));
  } else {
    throw Error(
        fmt::format("{}: unsupported .npy dtype '{}' (expected <f2, <f4, <f8 or |u1)", what, printable(h.descr)));
  }
  if (h.fortran_order)
    throw Error(fmt::format("{}: Fortran-order .npy arrays are not supported; save np.ascontiguousarray(a)", what));

  const size_t data_start = header_start + header_len;
  const uint64_t data_bytes = bytes.size() - data_start;
  // Zero-sized dimensions count as 1 here so that an empty array with absurd other dimensions is still refused.
  int64_t extent = 1, needed = static_cast<int64_t>(item_size);
  for (int64_t d : h.shape)
    if (__builtin_mul_overflow(extent, std::max<int64_t>(d, 1), &extent))
      throw Error(fmt::format("{}: .npy shape {} is too large", what, shape_text(h.shape)));
  const bool empty = std::count(h.shape.begin(), h.shape.end(), 0) > 0;
  const bool overflow = __builtin_mul_overflow(needed, empty ? 0 : extent, &needed);
  if (overflow || needed > static_cast<int64_t>(data_bytes))
    throw Error(fmt::format("{}: truncated .npy file (shape {} of {} needs {} bytes of data, the file has {})", what,
                            shape_text(h.shape), h.descr, overflow ? "more than 2^63" : std::to_string(needed),
                            data_bytes));
  if (static_cast<uint64_t>(needed) < data_bytes)
    throw Error(fmt::format("{}: {} bytes of .npy data but shape {} of {} needs {} (trailing bytes)", what, data_bytes,
                            shape_text(h.shape), h.descr, needed));

  torch::Tensor t = torch::empty(h.shape, torch::TensorOptions().dtype(dtype));
  if (needed > 0) std::memcpy(t.data_ptr(), bytes.data() + data_start, needed);
  return t.to(torch::kFloat32);
}

torch::Tensor read_npy_file(const std::string& path) { return parse_npy(read_text_file(path), path); }

std::string encode_npy(const torch::Tensor& t) {
  if (!t.defined()) throw Error("encode_npy: undefined tensor");
  std::string descr;
  switch (t.scalar_type()) {
    case torch::kFloat16:
      descr = "<f2";
      break;
    case torch::kFloat32:
      descr = "<f4";
      break;
    case torch::kUInt8:
      descr = "|u1";
      break;
    default:
      throw Error(
          fmt::format("encode_npy: unsupported dtype {} (float16, float32 or uint8)", c10::toString(t.scalar_type())));
  }
  const torch::Tensor c = t.cpu().contiguous();
  const std::vector<int64_t> shape = c.sizes().vec();
  // Python's repr of a tuple: (), (n,), (a, b).
  const std::string shape_repr =
      shape.size() == 1 ? fmt::format("({},)", shape[0]) : fmt::format("({})", fmt::join(shape, ", "));
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_repr);
  if (!shape.empty()) header.append(kGrowthAxisMaxDigits - std::to_string(shape[0]).size(), ' ');
  const size_t with_newline = header.size() + 1;
  header.append(kArrayAlign - (kMagicLen + 2 + 2 + with_newline) % kArrayAlign, ' ');
  header += '\n';

  std::string out(kMagic, kMagicLen);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
  return out;
}

void write_npy_file(const std::string& path, const torch::Tensor& t) { write_text_atomically(path, encode_npy(t)); }

}  // namespace segtransfer
