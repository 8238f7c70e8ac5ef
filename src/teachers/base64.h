// Base64 (RFC 4648, standard alphabet, padded) for the JSON bodies of vendor APIs.
// Written here because none of the project's libraries exposes it publicly
// (cpp-httplib's encoder sits in its detail namespace and has no decoder).
#pragma once
#include <string>

namespace segtransfer {

std::string base64_encode(const std::string& bytes);
// Throws Error naming `what` on a character outside the alphabet or a bad length.
std::string base64_decode(const std::string& text, const std::string& what);

}  // namespace segtransfer
