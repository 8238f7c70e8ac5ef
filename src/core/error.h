// One exception type for every user-facing failure: its message is a single line
// that names the file, key or option at fault, and the CLI prints it and exits 1.
#pragma once
#include <stdexcept>
#include <string>

namespace segtransfer {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace segtransfer
