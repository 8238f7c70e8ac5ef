// Which target images to ask a paid black box about, when the budget covers only
// some of them (issue 18): a cheap embedding of every image (colour and edge
// statistics: no network, milliseconds per image) and a k-centre choice that spreads
// the chosen images over the set — on video-like data (CamVid) consecutive frames
// are near-duplicates, so a spread choice asks fewer redundant questions than a
// random one. `segtransfer select` writes the choice as a list file that both
// `query` and the students read (data.target.list).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

namespace segtransfer {

class SegDataset;

// The embedding of one BGR image: a 4x4x4 Lab colour histogram and, on a 2x2 grid,
// 8-bin gradient-orientation histograms weighted by magnitude, each part L1-normalised
// then the whole L2-normalised (96 values, CV_32F row).
cv::Mat image_embedding(const cv::Mat& bgr);

enum class SelectionMethod { kKCenter, kRandom };

// `count` distinct indices of `embeddings` (one row each). k-centre (greedy farthest
// point): start from a random row drawn with `seed`, then repeatedly take the row
// farthest from every row taken so far. Random: a uniform draw without replacement.
// Deterministic for a seed; sorted ascending. Throws Error when count is out of range.
std::vector<int64_t> select_images(const cv::Mat& embeddings, int64_t count, SelectionMethod method, uint64_t seed);

// How well `chosen` covers every row: the largest and the mean distance from a row to
// its nearest chosen row (0 for the chosen ones). k-centre minimises the first (to 2x).
std::pair<double, double> coverage_distances(const cv::Mat& embeddings, const std::vector<int64_t>& chosen);

// Embeds every image of `dataset` (in parallel where OpenCV allows) into one matrix.
cv::Mat embed_dataset(const SegDataset& dataset);

}  // namespace segtransfer
