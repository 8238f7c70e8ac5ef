// Files that matter (checkpoints, metrics, predictions) are never half-written:
// they are written to a temporary sibling, flushed, then renamed over the target.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace segtransfer {

// Calls `write(tmp_path)`, fsyncs tmp_path, then renames it to `path`. On any
// exception the temporary file is removed and `path` is left untouched.
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& tmp)>& write);

void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// Appends one line and flushes (for logs such as metrics.jsonl).
void append_line(const std::filesystem::path& path, const std::string& line);

std::string read_text_file(const std::filesystem::path& path);

}  // namespace segtransfer
