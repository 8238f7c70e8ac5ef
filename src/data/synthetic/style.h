// What the two synthetic domains look like apart from their geometry: the tuning
// knobs of the domain gap, each domain's style (camera, street layout and object
// frequencies), the surfaces with their palette and target texture, and Sampler,
// the one random stream a scene is drawn from.
#pragma once
#include <opencv2/core.hpp>

#include <algorithm>
#include <cstdint>

#include "data/synthetic.h"

namespace segtransfer::synthetic {

// ===========================================================================
// Tuning knobs for the domain gap (the lead calibrates these).
// ===========================================================================
// 0: the target uses the source palette; 1: its own (greyer, shifted hues).
inline constexpr double kTargetPaletteStrength = 0.4;
// Multiplies every target surface texture (asphalt/grass/leaf noise, stains).
inline constexpr double kTargetTextureStrength = 1.0;
// Target camera/sensor/weather.
inline constexpr double kTargetNoiseSigma[2] = {2.0, 7.0};  // Gaussian sensor noise, grey levels
inline constexpr double kTargetBlurSigma[2] = {0.3, 1.0};   // pixels at 320 px image width
inline constexpr int kTargetJpegQuality[2] = {30, 70};
inline constexpr double kTargetBrightness[2] = {0.8, 1.1};
inline constexpr double kTargetGradient = 0.2;  // largest ± brightness ramp across the image
inline constexpr double kTargetDuskProbability = 0.25;
inline constexpr double kTargetDuskGain = 0.75;
inline constexpr double kTargetDuskTint[3] = {0.72, 0.88, 1.05};  // B, G, R
inline constexpr double kTargetFogProbability = 0.3;
inline constexpr double kTargetFogDistance[2] = {35, 110};  // metres at which 63% of the light is fog
inline constexpr double kTargetShadowProbability = 0.5;

struct Range {
  double lo, hi;
};
struct Count {
  int lo, hi;  // inclusive
};

// Everything that differs between the domains apart from the palette and the
// target-only post-processing above.
struct DomainStyle {
  Range hfov_deg, camera_height, horizon;  // horizon row as a fraction of the image height
  double colour_jitter;                    // relative per-object colour variation
  double side_shade, top_shade;            // face brightness relative to faces towards the camera
  double p_two_way, p_parking_lane, p_verge, p_curve, p_intersection, p_street_end;
  double lot_building, lot_park, lot_wall, lot_open;  // relative frequencies of lot kinds
  double p_front_fence, p_front_hedge, p_tree_row, p_lamps;
  Count park_trees, tree_crown_blobs;
  Count parked_cars_per_side, moving_cars, persons, signs;
  double p_traffic_light, p_rider, p_bus, p_truck, p_motorcycle, p_parked_bicycle, p_clouds;
  bool surface_detail;  // mortar lines, paving joints, road patches, lit windows
};

const DomainStyle& style_of(SynthDomain domain);

// Cityscapes train ids; kDetail paints the image only (a detail inside a labelled shape).
enum TrainId : int {
  kDetail = -1,
  kRoad = 0,
  kSidewalk,
  kBuilding,
  kWall,
  kFence,
  kPole,
  kTrafficLight,
  kTrafficSign,
  kVegetation,
  kTerrain,
  kSky,
  kPerson,
  kRider,
  kCar,
  kTruck,
  kBus,
  kTrain,
  kMotorcycle,
  kBicycle
};

// Surfaces carry the palette and, in the target, the texture.
enum Surface : uint8_t {
  kSkySurface,
  kCloud,
  kAsphalt,
  kMarking,
  kPaving,
  kCurb,
  kGrass,
  kFacade,
  kGlass,
  kConcrete,
  kFenceSurface,
  kMetal,
  kSignFace,
  kHousing,
  kFoliage,
  kBark,
  kCarBody,
  kRubber,
  kLamp,
  kClothes,
  kSkin,
  kHair,
  kBusBody,
  kTruckBody,
  kFrame,
  kSurfaceCount
};

// Target texture amplitudes (grey levels) per surface: per-pixel grain, a grain a few
// pixels across (leaves, gravel), and large blotches (stains, clouds, uneven paint).
struct Texture {
  float grain, clump, blotch;
};
const Texture& target_texture(Surface surface);

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

inline cv::Scalar scaled(const cv::Scalar& c, double k) {
  return cv::Scalar(std::min(255.0, c[0] * k), std::min(255.0, c[1] * k), std::min(255.0, c[2] * k));
}
inline cv::Scalar mixed(const cv::Scalar& a, const cv::Scalar& b, double t) { return a * (1 - t) + b * t; }

struct Paint {
  cv::Scalar colour;  // BGR
  int train_id;       // kDetail: image (and surface) only
  Surface surface;
  float depth;
  Paint with(const cv::Scalar& c) const { return {c, train_id, surface, depth}; }
  Paint detail(const cv::Scalar& c, Surface s) const { return {c, kDetail, s, depth}; }
};

// The colours of a person.
struct Look {
  cv::Scalar top, bottom, skin, hair;
};

// The random stream of one scene. Planning and painting take turns drawing from it,
// so the order of the draws is part of the scene: the same seed gives the same scene
// only as long as that order stays.
class Sampler {
 public:
  Sampler(SynthDomain domain, uint64_t seed);

  SynthDomain domain() const { return domain_; }
  const DomainStyle& style() const { return style_; }

  double uniform(double lo, double hi) { return rng_.uniform(lo, hi); }
  double uniform(Range r) { return rng_.uniform(r.lo, r.hi); }
  int integer(int lo, int hi) { return rng_.uniform(lo, hi + 1); }  // lo..hi inclusive
  int count(Count c) { return integer(c.lo, c.hi); }
  bool chance(double p) { return rng_.uniform(0.0, 1.0) < p; }
  int pick(int n) { return rng_.uniform(0, n); }
  // Zero-mean Gaussian noise with this standard deviation in every channel.
  void fill_normal(cv::Mat& mat, double sigma);

  // A swatch of the surface in this domain's palette, jittered per object.
  cv::Scalar colour(Surface s, int swatch);
  cv::Scalar colour(Surface s) { return colour(s, pick(4)); }
  Look look();

 private:
  SynthDomain domain_;
  const DomainStyle& style_;
  cv::RNG rng_;
};

}  // namespace segtransfer::synthetic
