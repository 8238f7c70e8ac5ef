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

// Removes from `dir` the temporary files write_atomically left behind in processes
// that were killed while writing (<name>.tmp.<pid>, the pid no longer running);
// they are never read as the file they were meant to become. Returns how many.
int remove_stale_temporaries(const std::filesystem::path& dir);

// Appends one line and flushes (for logs such as metrics.jsonl).
void append_line(const std::filesystem::path& path, const std::string& line);

std::string read_text_file(const std::filesystem::path& path);

}  // namespace segtransfer
