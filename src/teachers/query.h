// `segtransfer query`: asks the source model once per target image and keeps the
// answers in a prediction store. Resumable: entries that verify are skipped, so a
// killed run re-asks only what is missing.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "teachers/prediction_store.h"
#include "teachers/teacher.h"

namespace segtransfer {

struct QueryReport {
  int64_t images = 0;                 // in the dataset (in this process's share of it)
  int64_t skipped = 0;                // already stored and verified
  int64_t stored = 0;                 // asked and stored by this run
  std::vector<std::string> failures;  // "stem: reason" for answers that were rejected
  int64_t requests = 0;               // sent to the source model by this run (retries included)
  int64_t stored_bytes = 0;           // on disk, over every entry of the dataset
  double seconds = 0;
};

// Called after every image with (done, total).
using QueryProgress = std::function<void(int64_t done, int64_t total)>;

// Asks `teacher` for every image of `images` that has no valid entry in `store`,
// with up to teacher.max_concurrency() requests in flight. A malformed answer
// fails its image (listed in the report) and the query goes on; TeacherUnavailable
// stops it (entries stored so far stay valid) and is rethrown.
// Data-parallel: process `shard` of `shards` asks for images i with i % shards == shard.
QueryReport run_query(Teacher& teacher, const SegDataset& images, const PredictionStore& store,
                      const QueryProgress& progress = nullptr, int shard = 0, int shards = 1);

}  // namespace segtransfer
