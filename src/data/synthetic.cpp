#include "data/synthetic.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"

namespace segtransfer {
namespace {

// ===========================================================================
// Tuning knobs for the domain gap (the lead calibrates these).
// ===========================================================================
// 0: the target uses the source palette; 1: its own (greyer, shifted hues).
constexpr double kTargetPaletteStrength = 0.4;
// Multiplies every target surface texture (asphalt/grass/leaf noise, stains).
constexpr double kTargetTextureStrength = 1.0;
// Target camera/sensor/weather.
constexpr double kTargetNoiseSigma[2] = {2.0, 7.0};  // Gaussian sensor noise, grey levels
constexpr double kTargetBlurSigma[2] = {0.3, 1.0};   // pixels at 320 px image width
constexpr int kTargetJpegQuality[2] = {30, 70};
constexpr double kTargetBrightness[2] = {0.8, 1.1};
constexpr double kTargetGradient = 0.2;  // largest ± brightness ramp across the image
constexpr double kTargetDuskProbability = 0.25;
constexpr double kTargetDuskGain = 0.75;
constexpr double kTargetDuskTint[3] = {0.72, 0.88, 1.05};  // B, G, R
constexpr double kTargetFogProbability = 0.3;
constexpr double kTargetFogDistance[2] = {35, 110};  // metres at which 63% of the light is fog
constexpr double kTargetShadowProbability = 0.5;

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

// clang-format off
// GTA5-like: wide field of view, high camera, saturated flat colours, many cars.
constexpr DomainStyle kSourceStyle{
    {80, 95}, {1.9, 2.5}, {0.36, 0.44},     // hfov_deg, camera_height, horizon
    0.06, 0.8, 1.1,                         // colour_jitter, side_shade, top_shade
    0.7, 0.6, 0.2, 0.3, 0.35, 0.3,          // two_way, parking_lane, verge, curve, intersection, street_end
    0.62, 0.14, 0.1, 0.14,                  // lots: building, park, wall, open
    0.25, 0.1, 0.5, 0.75,                   // front_fence, front_hedge, tree_row, lamps
    {1, 3}, {4, 6},                         // park_trees, tree_crown_blobs
    {0, 7}, {2, 6}, {1, 6}, {1, 4},         // parked_cars_per_side, moving_cars, persons, signs
    0.3, 0.2, 0.12, 0.18, 0.06, 0.08, 0.6,  // traffic_light, rider, bus, truck, motorcycle, parked_bicycle, clouds
    false};                                 // surface_detail

// Cityscapes-like: narrower field of view, lower camera, more people and green, fewer cars.
constexpr DomainStyle kTargetStyle{
    {55, 68}, {1.2, 1.5}, {0.46, 0.54},
    0.1, 0.72, 1.0,
    0.6, 0.5, 0.45, 0.3, 0.35, 0.2,
    0.45, 0.3, 0.1, 0.15,
    0.35, 0.25, 0.75, 0.6,
    {2, 5}, {6, 10},
    {0, 4}, {0, 2}, {3, 12}, {0, 3},
    0.35, 0.3, 0.08, 0.1, 0.05, 0.3, 0.0,
    true};
// clang-format on

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

// Four RGB swatches per surface and domain; swatch i of the source corresponds to swatch i
// of the target (kTargetPaletteStrength blends them).
struct Swatches {
  uint8_t source[4][3];
  uint8_t target[4][3];
};
const Swatches kPalette[kSurfaceCount] = {
    /* sky */ {{{70, 140, 235}, {95, 165, 245}, {55, 120, 225}, {120, 180, 250}},
               {{196, 203, 212}, {180, 191, 205}, {214, 214, 216}, {165, 180, 198}}},
    /* cloud */
    {{{248, 248, 252}, {240, 242, 250}, {255, 255, 255}, {235, 238, 245}},
     {{222, 222, 224}, {205, 207, 212}, {230, 230, 230}, {195, 198, 205}}},
    /* asphalt */
    {{{72, 72, 84}, {82, 80, 94}, {62, 64, 76}, {92, 90, 100}},
     {{118, 116, 110}, {106, 105, 102}, {128, 126, 120}, {98, 98, 96}}},
    /* marking */
    {{{250, 250, 250}, {245, 245, 235}, {255, 215, 30}, {250, 250, 250}},
     {{200, 200, 194}, {188, 188, 180}, {205, 196, 150}, {196, 196, 196}}},
    /* paving */
    {{{205, 170, 150}, {215, 192, 160}, {195, 160, 175}, {225, 205, 170}},
     {{150, 146, 140}, {136, 132, 128}, {160, 156, 148}, {126, 123, 118}}},
    /* curb */
    {{{190, 190, 195}, {175, 175, 185}, {200, 195, 190}, {185, 185, 185}},
     {{165, 163, 158}, {150, 148, 145}, {172, 170, 165}, {140, 140, 138}}},
    /* grass */
    {{{150, 205, 60}, {170, 215, 70}, {135, 195, 50}, {185, 205, 80}},
     {{118, 112, 70}, {108, 100, 62}, {128, 124, 80}, {98, 94, 64}}},
    /* facade */
    {{{225, 125, 60}, {235, 205, 140}, {105, 145, 210}, {205, 90, 95}},
     {{142, 132, 122}, {112, 104, 98}, {162, 152, 138}, {92, 92, 98}}},
    /* glass */
    {{{40, 75, 130}, {60, 95, 150}, {30, 55, 100}, {85, 120, 170}},
     {{58, 64, 70}, {72, 76, 80}, {48, 52, 58}, {86, 90, 96}}},
    /* concrete */
    {{{205, 185, 135}, {175, 175, 200}, {215, 200, 170}, {190, 160, 140}},
     {{146, 144, 138}, {128, 126, 122}, {156, 150, 140}, {116, 114, 112}}},
    /* fence */
    {{{150, 100, 55}, {95, 110, 130}, {175, 125, 70}, {80, 140, 90}},
     {{92, 90, 86}, {70, 72, 74}, {110, 100, 88}, {84, 88, 80}}},
    /* metal */
    {{{120, 125, 140}, {100, 105, 120}, {135, 140, 150}, {90, 95, 110}},
     {{78, 80, 80}, {92, 92, 90}, {66, 68, 70}, {100, 100, 98}}},
    /* sign face: red, blue, yellow, white */
    {{{230, 30, 30}, {30, 80, 220}, {250, 210, 20}, {250, 250, 250}},
     {{170, 50, 45}, {45, 70, 140}, {190, 165, 60}, {215, 215, 210}}},
    /* housing */
    {{{40, 40, 45}, {220, 180, 20}, {35, 55, 40}, {50, 50, 50}},
     {{30, 30, 30}, {52, 50, 44}, {40, 44, 40}, {24, 24, 26}}},
    /* foliage */
    {{{55, 175, 55}, {40, 150, 45}, {75, 190, 60}, {60, 165, 40}},
     {{62, 82, 38}, {74, 88, 42}, {54, 70, 32}, {84, 92, 48}}},
    /* bark */
    {{{130, 85, 40}, {115, 75, 35}, {140, 95, 50}, {120, 80, 45}},
     {{72, 62, 52}, {60, 52, 44}, {82, 72, 60}, {66, 60, 54}}},
    /* car body */
    {{{225, 30, 30}, {30, 85, 225}, {245, 205, 30}, {245, 245, 245}},
     {{62, 62, 66}, {182, 182, 186}, {24, 24, 28}, {42, 52, 82}}},
    /* rubber */
    {{{25, 25, 28}, {30, 30, 30}, {20, 20, 24}, {35, 35, 38}},
     {{30, 30, 30}, {36, 36, 34}, {26, 26, 26}, {40, 40, 38}}},
    /* lamp: red, white, amber, green */
    {{{255, 40, 40}, {255, 250, 200}, {255, 160, 0}, {40, 230, 80}},
     {{180, 50, 40}, {220, 215, 190}, {200, 130, 40}, {60, 170, 90}}},
    /* clothes */
    {{{225, 40, 40}, {40, 165, 225}, {245, 200, 0}, {70, 70, 210}},
     {{42, 42, 46}, {72, 62, 52}, {32, 38, 62}, {120, 112, 102}}},
    /* skin */
    {{{235, 185, 145}, {205, 150, 110}, {160, 110, 75}, {240, 200, 170}},
     {{200, 160, 130}, {170, 130, 100}, {130, 95, 70}, {210, 180, 155}}},
    /* hair */
    {{{40, 30, 20}, {90, 60, 30}, {220, 190, 110}, {20, 20, 20}},
     {{36, 30, 26}, {70, 56, 40}, {150, 130, 96}, {24, 24, 24}}},
    /* bus body */
    {{{240, 140, 20}, {40, 125, 210}, {230, 40, 40}, {250, 250, 250}},
     {{190, 190, 180}, {150, 40, 40}, {60, 90, 120}, {215, 200, 90}}},
    /* truck body */
    {{{245, 245, 245}, {210, 45, 45}, {60, 160, 80}, {235, 235, 120}},
     {{200, 198, 192}, {120, 110, 100}, {80, 90, 96}, {165, 150, 120}}},
    /* bicycle frame */
    {{{230, 30, 30}, {30, 30, 30}, {30, 120, 230}, {240, 240, 240}},
     {{40, 40, 40}, {90, 30, 30}, {60, 62, 70}, {150, 150, 150}}},
};

// Target texture amplitudes (grey levels) per surface: per-pixel grain, a grain a few
// pixels across (leaves, gravel), and large blotches (stains, clouds, uneven paint).
struct Texture {
  float grain, clump, blotch;
};
const Texture kTargetTexture[kSurfaceCount] = {
    /* sky */ {0.5f, 0, 7},        /* cloud */ {0.5f, 0, 6}, /* asphalt */ {10, 6, 9},
    /* marking */ {8, 6, 10},      /* paving */ {7, 5, 8},   /* curb */ {6, 3, 5},
    /* grass */ {12, 14, 12},      /* facade */ {6, 6, 12},  /* glass */ {4, 4, 10},
    /* concrete */ {8, 5, 12},     /* fence */ {6, 4, 4},    /* metal */ {3, 2, 3},
    /* sign face */ {3, 2, 3},     /* housing */ {3, 2, 3},  /* foliage */ {18, 22, 10},
    /* bark */ {10, 6, 4},         /* car body */ {3, 2, 6}, /* rubber */ {3, 2, 2},
    /* lamp */ {2, 1, 1},          /* clothes */ {6, 4, 4},  /* skin */ {3, 2, 2},
    /* hair */ {4, 2, 2},          /* bus body */ {3, 2, 6}, /* truck body */ {3, 2, 6},
    /* bicycle frame */ {3, 2, 2},
};

constexpr double kPi = 3.14159265358979323846;
constexpr double kNearClip = 0.5;     // metres
constexpr double kCurbHeight = 0.15;  // sidewalks are raised by this much
constexpr float kSkyDepth = 1000.f;
constexpr int kShift = 4;  // fixed-point bits for sub-pixel drawing
constexpr double kFixed = 1 << kShift;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

cv::Scalar scaled(const cv::Scalar& c, double k) {
  return cv::Scalar(std::min(255.0, c[0] * k), std::min(255.0, c[1] * k), std::min(255.0, c[2] * k));
}
cv::Scalar mixed(const cv::Scalar& a, const cv::Scalar& b, double t) { return a * (1 - t) + b * t; }

struct Paint {
  cv::Scalar colour;  // BGR
  int train_id;       // kDetail: image (and surface) only
  Surface surface;
  float depth;
  Paint with(const cv::Scalar& c) const { return {c, train_id, surface, depth}; }
  Paint detail(const cv::Scalar& c, Surface s) const { return {c, kDetail, s, depth}; }
};

// Every shape goes into the image (antialiased), the label (not antialiased), the
// surface map (for the target textures) and the depth map (for fog).
class Canvas {
 public:
  explicit Canvas(cv::Size size)
      : image(size, CV_8UC3, cv::Scalar::all(0)),
        label(size, CV_8UC1, cv::Scalar(255)),
        surface(size, CV_8UC1, cv::Scalar(kSkySurface)),
        depth(size, CV_32FC1, cv::Scalar(kSkyDepth)) {}

  void polygon(const std::vector<cv::Point2d>& points, const Paint& paint) {
    if (points.size() < 3) return;
    std::vector<cv::Point> fixed(points.size());
    std::transform(points.begin(), points.end(), fixed.begin(), to_fixed);
    const cv::Point* data = fixed.data();
    const int n = static_cast<int>(fixed.size());
    cv::fillPoly(image, &data, &n, 1, paint.colour, cv::LINE_AA, kShift);
    for_maps(paint, [&](cv::Mat& map, const cv::Scalar& value) {
      cv::fillPoly(map, &data, &n, 1, value, cv::LINE_8, kShift);
    });
  }
  // Labels a region without painting the image (see-through fences).
  void label_polygon(const std::vector<cv::Point2d>& points, int train_id, float z) {
    std::vector<cv::Point> fixed(points.size());
    std::transform(points.begin(), points.end(), fixed.begin(), to_fixed);
    const cv::Point* data = fixed.data();
    const int n = static_cast<int>(fixed.size());
    cv::fillPoly(label, &data, &n, 1, cv::Scalar(train_id), cv::LINE_8, kShift);
    cv::fillPoly(depth, &data, &n, 1, cv::Scalar(z), cv::LINE_8, kShift);
  }
  void line(cv::Point2d a, cv::Point2d b, double width, const Paint& paint) {
    const int thickness = std::max(1, static_cast<int>(std::lround(width)));
    cv::line(image, to_fixed(a), to_fixed(b), paint.colour, thickness, cv::LINE_AA, kShift);
    for_maps(paint, [&](cv::Mat& map, const cv::Scalar& value) {
      cv::line(map, to_fixed(a), to_fixed(b), value, thickness, cv::LINE_8, kShift);
    });
  }
  // Filled when width < 0, else a ring of that width.
  void ellipse(cv::Point2d centre, cv::Size2d axes, const Paint& paint, double width = -1) {
    const int thickness = width < 0 ? cv::FILLED : std::max(1, static_cast<int>(std::lround(width)));
    const cv::Size fixed_axes(std::max(1, static_cast<int>(std::lround(axes.width * kFixed))),
                              std::max(1, static_cast<int>(std::lround(axes.height * kFixed))));
    cv::ellipse(image, to_fixed(centre), fixed_axes, 0, 0, 360, paint.colour, thickness, cv::LINE_AA, kShift);
    for_maps(paint, [&](cv::Mat& map, const cv::Scalar& value) {
      cv::ellipse(map, to_fixed(centre), fixed_axes, 0, 0, 360, value, thickness, cv::LINE_8, kShift);
    });
  }
  void circle(cv::Point2d centre, double radius, const Paint& paint) { ellipse(centre, {radius, radius}, paint); }

  cv::Mat image, label, surface, depth;

 private:
  static cv::Point to_fixed(const cv::Point2d& p) {
    constexpr double kLimit = 1e5;  // far outside any image, well inside int range once shifted
    return {static_cast<int>(std::lround(std::clamp(p.x, -kLimit, kLimit) * kFixed)),
            static_cast<int>(std::lround(std::clamp(p.y, -kLimit, kLimit) * kFixed))};
  }
  template <class Draw>
  void for_maps(const Paint& paint, Draw draw) {
    draw(surface, cv::Scalar(paint.surface));
    if (paint.train_id == kDetail) return;
    draw(label, cv::Scalar(paint.train_id));
    draw(depth, cv::Scalar(paint.depth));
  }
};

// Pinhole camera over a flat road. u is the lateral offset from the road axis, which
// may turn (yaw) and bend (curve) with the distance z; y is the height.
struct Camera {
  double f, cx, horizon, height, yaw, curve;

  double axis(double z) const { return yaw * z + curve * z * z; }
  cv::Point2d project(double u, double y, double z) const {
    z = std::max(z, kNearClip);
    return {cx + f * (u + axis(z)) / z, horizon + f * (height - y) / z};
  }
  double px_per_m(double z) const { return f / std::max(z, kNearClip); }
};

// An upright object drawn in screen space at the scale of its ground point.
struct Figure {
  cv::Point2d base;
  double s;             // pixels per metre
  double cos_h, sin_h;  // heading: 0 faces away from the camera, ±pi/2 crosses the view

  cv::Point2d at(double lateral, double up, double forward = 0) const {
    return {base.x + (lateral * cos_h + forward * sin_h) * s, base.y - up * s};
  }
  // Screen width of a part with these half-extents across and along the heading.
  double across(double lateral_half, double forward_half) const {
    return 2 * (lateral_half * std::abs(cos_h) + forward_half * std::abs(sin_h)) * s;
  }
};

struct Box {
  double u0, u1, y0, y1, z0, z1;
};
enum BoxFace { kNearFace, kFarFace, kLowUFace, kHighUFace, kTopFace, kBottomFace };
constexpr int face_bit(BoxFace f) { return 1 << f; }

double signed_area(const std::vector<cv::Point2d>& points) {
  return cv::contourArea(std::vector<cv::Point2f>(points.begin(), points.end()), /*oriented=*/true);
}

struct Side {
  int sign;             // -1 left, +1 right
  double curb;          // u of the curb
  double verge, outer;  // distances beyond the curb: grass verge width, end of the sidewalk
  double u(double d) const { return curb + sign * d; }
};

struct Lot {
  double z0, z1;
};

class SceneRenderer {
 public:
  SceneRenderer(SynthDomain domain, uint64_t seed, cv::Size size)
      : domain_(domain),
        style_(domain == SynthDomain::Source ? kSourceStyle : kTargetStyle),
        rng_(splitmix64(seed ^ splitmix64(domain == SynthDomain::Source ? 0x5EED5 : 0x7A26E7))),
        size_(size),
        canvas_(size) {}

  SynthScene render() {
    plan_camera_and_light();
    plan_street();
    draw_sky();
    draw_skyline();
    for (const Side& side : sides_) plan_lots(side);
    if (street_end_ < 1e9) plan_street_end();
    draw_ground();
    for (const Side& side : sides_) plan_side_furniture(side);
    plan_traffic_lights();
    plan_vehicles();
    plan_people();
    draw_sorted(background_);
    draw_sorted(street_items_);
    if (domain_ == SynthDomain::Target) finish_target();
    return {canvas_.image, canvas_.label};
  }

 private:
  struct Item {
    double z, lateral;
    std::function<void()> draw;
  };

  // --- sampling ------------------------------------------------------------
  double uniform(double lo, double hi) { return rng_.uniform(lo, hi); }
  double uniform(Range r) { return rng_.uniform(r.lo, r.hi); }
  int count(Count c) { return rng_.uniform(c.lo, c.hi + 1); }
  bool chance(double p) { return rng_.uniform(0.0, 1.0) < p; }
  int pick(int n) { return rng_.uniform(0, n); }

  cv::Scalar colour(Surface s, int swatch) {
    const double t = domain_ == SynthDomain::Target ? kTargetPaletteStrength : 0.0;
    const double j = style_.colour_jitter;
    const double gain = 1 + uniform(-j, j);
    double rgb[3];
    for (int c = 0; c < 3; ++c) {
      const double base = kPalette[s].source[swatch][c] * (1 - t) + kPalette[s].target[swatch][c] * t;
      rgb[c] = std::clamp(base * gain + uniform(-j, j) * 60, 0.0, 255.0);
    }
    return cv::Scalar(rgb[2], rgb[1], rgb[0]);
  }
  cv::Scalar colour(Surface s) { return colour(s, pick(4)); }

  // --- geometry helpers ------------------------------------------------------
  bool in_intersection(double z) const { return has_intersection_ && z > cross_z0_ && z < cross_z1_; }
  // [z0, z1) without the cross street.
  std::vector<std::pair<double, double>> pieces(double z0, double z1) const {
    if (!has_intersection_ || z1 <= cross_z0_ || z0 >= cross_z1_) return {{z0, z1}};
    std::vector<std::pair<double, double>> out;
    if (z0 < cross_z0_) out.push_back({z0, cross_z0_});
    if (z1 > cross_z1_) out.push_back({cross_z1_, z1});
    return out;
  }
  int z_samples() const { return cam_.curve != 0 ? 24 : 1; }
  // A horizontal strip of ground (height y) between two lateral offsets.
  std::vector<cv::Point2d> ground_strip(double u0, double u1, double z0, double z1, double y) const {
    z0 = std::max(z0, kNearClip);
    if (z1 <= z0) return {};
    const int n = z_samples();
    std::vector<cv::Point2d> pts;
    for (int i = 0; i <= n; ++i) pts.push_back(cam_.project(u0, y, z0 * std::pow(z1 / z0, double(i) / n)));
    for (int i = n; i >= 0; --i) pts.push_back(cam_.project(u1, y, z0 * std::pow(z1 / z0, double(i) / n)));
    return pts;
  }
  // A vertical strip on the plane u = const (facades, fences, curbs).
  std::vector<cv::Point2d> side_strip(double u, double y0, double y1, double z0, double z1) const {
    z0 = std::max(z0, kNearClip);
    if (z1 <= z0) return {};
    const int n = z_samples();
    std::vector<cv::Point2d> pts;
    for (int i = 0; i <= n; ++i) pts.push_back(cam_.project(u, y0, z0 * std::pow(z1 / z0, double(i) / n)));
    for (int i = n; i >= 0; --i) pts.push_back(cam_.project(u, y1, z0 * std::pow(z1 / z0, double(i) / n)));
    return pts;
  }
  std::vector<cv::Point2d> face(const Box& b, BoxFace f) const {
    auto p = [&](double u, double y, double z) { return cam_.project(u, y, z); };
    switch (f) {
      case kNearFace:
        return {p(b.u0, b.y0, b.z0), p(b.u1, b.y0, b.z0), p(b.u1, b.y1, b.z0), p(b.u0, b.y1, b.z0)};
      case kFarFace:
        return {p(b.u1, b.y0, b.z1), p(b.u0, b.y0, b.z1), p(b.u0, b.y1, b.z1), p(b.u1, b.y1, b.z1)};
      case kLowUFace:
        return {p(b.u0, b.y0, b.z1), p(b.u0, b.y0, b.z0), p(b.u0, b.y1, b.z0), p(b.u0, b.y1, b.z1)};
      case kHighUFace:
        return {p(b.u1, b.y0, b.z0), p(b.u1, b.y0, b.z1), p(b.u1, b.y1, b.z1), p(b.u1, b.y1, b.z0)};
      case kTopFace:
        return {p(b.u0, b.y1, b.z0), p(b.u1, b.y1, b.z0), p(b.u1, b.y1, b.z1), p(b.u0, b.y1, b.z1)};
      case kBottomFace:
        return {p(b.u0, b.y0, b.z1), p(b.u1, b.y0, b.z1), p(b.u1, b.y0, b.z0), p(b.u0, b.y0, b.z0)};
    }
    return {};
  }
  // Draws the faces turned towards the camera (back-face culling against the near face,
  // which always faces it) and returns them as a bit set.
  int draw_box(Box b, const Paint& paint) {
    b.z0 = std::max(b.z0, kNearClip);
    if (b.z1 <= b.z0) return 0;
    const double towards = signed_area(face(b, kNearFace));
    int visible = 0;
    for (BoxFace f : {kFarFace, kBottomFace, kLowUFace, kHighUFace, kTopFace, kNearFace}) {
      auto pts = face(b, f);
      if (signed_area(pts) * towards <= 0) continue;
      const double shade = f == kTopFace                         ? style_.top_shade
                           : (f == kLowUFace || f == kHighUFace) ? style_.side_shade
                                                                 : 1.0;
      canvas_.polygon(pts, paint.with(scaled(paint.colour, shade)));
      visible |= face_bit(f);
    }
    return visible;
  }
  // A rectangle on the plane u = const, inset by nothing: corners (z0,y0)..(z1,y1).
  std::vector<cv::Point2d> side_rect(double u, double y0, double y1, double z0, double z1) const {
    return {cam_.project(u, y0, z0), cam_.project(u, y0, z1), cam_.project(u, y1, z1), cam_.project(u, y1, z0)};
  }
  std::vector<cv::Point2d> front_rect(double u0, double u1, double y0, double y1, double z) const {
    return {cam_.project(u0, y0, z), cam_.project(u1, y0, z), cam_.project(u1, y1, z), cam_.project(u0, y1, z)};
  }
  Figure figure(double u, double y, double z, double heading) const {
    return {cam_.project(u, y, z), cam_.px_per_m(z), std::cos(heading), std::sin(heading)};
  }
  // A vertical bar at least one pixel wide.
  void bar(const Figure& f, double half_width, double y0, double y1, const Paint& paint) {
    const double h = std::max(0.5, half_width * f.s);
    const cv::Point2d a = f.at(0, y0), b = f.at(0, y1);
    canvas_.polygon({{a.x - h, a.y}, {a.x + h, a.y}, {b.x + h, b.y}, {b.x - h, b.y}}, paint);
  }
  // A disc on the plane u = const (wheels seen from the side).
  std::vector<cv::Point2d> side_disc(double u, double y, double z, double r) const {
    std::vector<cv::Point2d> pts;
    for (int i = 0; i < 12; ++i) {
      const double a = 2 * kPi * i / 12;
      pts.push_back(cam_.project(u, y + r * std::sin(a), z + r * std::cos(a)));
    }
    return pts;
  }

  // --- planning ------------------------------------------------------------
  void plan_camera_and_light() {
    const double w = size_.width, h = size_.height;
    const double hfov = uniform(style_.hfov_deg) * kPi / 180;
    cam_.f = 0.5 * w / std::tan(hfov / 2);
    cam_.cx = w / 2 + uniform(-0.03, 0.03) * w;
    cam_.horizon = uniform(style_.horizon) * h;
    cam_.height = uniform(style_.camera_height);
    cam_.yaw = uniform(-0.04, 0.04);
    cam_.curve = chance(style_.p_curve) ? uniform(-0.0012, 0.0012) : 0.0;
    if (domain_ == SynthDomain::Target) {
      dusk_ = chance(kTargetDuskProbability);
      fog_ = chance(kTargetFogProbability);
    }
  }

  void plan_street() {
    lane_width_ = uniform(3.0, 3.6);
    const double r = uniform(0.0, 1.0);
    lanes_left_ = r < 0.25 ? 0 : r < 0.65 ? 1 : r < 0.9 ? 2 : 3;
    lanes_right_ = chance(0.35) ? 1 : 0;
    oncoming_lanes_ = lanes_left_ > 0 && chance(style_.p_two_way)
                          ? std::min(lanes_left_, std::max(1, (lanes_left_ + lanes_right_ + 1) / 2))
                          : 0;
    road_left_ = -lane_width_ * (0.5 + lanes_left_);
    road_right_ = lane_width_ * (0.5 + lanes_right_);
    parking_[0] = chance(style_.p_parking_lane) ? 2.3 : 0.0;
    parking_[1] = chance(style_.p_parking_lane) ? 2.3 : 0.0;
    for (int i = 0; i < 2; ++i) {
      Side& s = sides_[i];
      s.sign = i == 0 ? -1 : 1;
      s.curb = i == 0 ? road_left_ - parking_[0] : road_right_ + parking_[1];
      s.verge = chance(style_.p_verge) ? uniform(1.0, 2.5) : 0.0;
      s.outer = s.verge + uniform(1.8, 4.5);
    }
    has_intersection_ = chance(style_.p_intersection);
    if (has_intersection_) {
      cross_z0_ = uniform(12, 45);
      cross_z1_ = cross_z0_ + uniform(10, 16);
      crosswalks_.push_back(cross_z0_ - uniform(3.5, 4.5));
    }
    street_end_ = chance(style_.p_street_end) ? uniform(55, 140) : 1e10;
    if (has_intersection_ && street_end_ < cross_z1_ + 15) street_end_ = cross_z1_ + 15;
    lots_end_ = std::min(street_end_, 220.0);
  }

  void plan_lots(const Side& side) {
    const double total = style_.lot_building + style_.lot_park + style_.lot_wall + style_.lot_open;
    double z = uniform(-4, 2);
    while (z < lots_end_) {
      if (in_intersection(z + 0.01)) {
        z = cross_z1_;
        continue;
      }
      double z1 = std::min(z + uniform(7, 28), lots_end_);
      if (has_intersection_ && z < cross_z0_) z1 = std::min(z1, cross_z0_);
      const Lot lot{z, z1};
      const double r = uniform(0, total);
      if (r < style_.lot_building) {
        const double setback = uniform(0, 1.5);
        plan_building(side, lot, setback, chance(0.15) ? uniform(20, 40) : uniform(6, 20), lot.z0);
      } else if (r < style_.lot_building + style_.lot_park) {
        plan_park(side, lot);
      } else if (r < style_.lot_building + style_.lot_park + style_.lot_wall) {
        plan_wall_lot(side, lot);
      } else {
        plan_open_lot(side, lot);
      }
      z = z1;
    }
  }

  // A building `setback` metres behind the sidewalk. sort_z orders it among the other
  // background items: a building behind a park sorts at the lot's far end so that the
  // park's trees and fence are drawn over it.
  void plan_building(const Side& side, const Lot& lot, double setback, double height, double sort_z) {
    const double d0 = side.outer + setback;
    const double u0 = side.u(d0), u1 = side.u(d0 + uniform(12, 25));
    const Box box{std::min(u0, u1), std::max(u0, u1), 0, height, lot.z0, lot.z1};
    const cv::Scalar wall = colour(kFacade);
    background_.push_back({sort_z, std::abs(u0), [this, box, wall, side] { draw_building(box, side, wall); }});
  }

  void plan_park(const Side& side, const Lot& lot) {
    const int trees = count(style_.park_trees);
    for (int i = 0; i < trees; ++i) {
      const double d = side.outer + uniform(2, 18), z = uniform(lot.z0 + 1, lot.z1 - 1);
      const double size = uniform(0.9, 1.5);
      if (z < 2) continue;
      background_.push_back({z, std::abs(side.u(d)), [this, side, d, z, size] { draw_tree(side.u(d), 0, z, size); }});
    }
    if (chance(0.5)) {  // a building further back
      const double setback = uniform(15, 35);
      plan_building(side, lot, setback, uniform(8, 25), lot.z1);
    }
    plan_lot_front(side, lot);
  }

  void plan_wall_lot(const Side& side, const Lot& lot) {
    const double height = uniform(1.2, 3.0);
    const double u0 = side.u(side.outer + 0.05), u1 = side.u(side.outer + 0.35);
    const Box box{std::min(u0, u1), std::max(u0, u1), 0, height, lot.z0, lot.z1};
    const cv::Scalar c = colour(kConcrete);
    background_.push_back({lot.z0, std::abs(u0), [this, box, c] {
                             const Paint p{c, kWall, kConcrete, float((box.z0 + box.z1) / 2)};
                             const int faces = draw_box(box, p);
                             // A coping along the top edge.
                             const double u = faces & face_bit(kLowUFace) ? box.u0 : box.u1;
                             if (faces & (face_bit(kLowUFace) | face_bit(kHighUFace)))
                               canvas_.polygon(side_strip(u, box.y1 - 0.12, box.y1, box.z0, box.z1),
                                               p.detail(scaled(c, 1.15), kConcrete));
                           }});
    if (chance(0.6)) {
      const double setback = uniform(3, 8);
      plan_building(side, lot, setback, uniform(6, 20), lot.z1);
    } else {
      for (int i = count({1, 3}); i > 0; --i) {
        const double d = side.outer + uniform(1.5, 8), z = uniform(lot.z0 + 1, lot.z1 - 1);
        if (z < 2) continue;
        background_.push_back({z, std::abs(side.u(d)), [this, side, d, z] { draw_tree(side.u(d), 0, z, 1.2); }});
      }
    }
  }

  void plan_open_lot(const Side& side, const Lot& lot) {
    const bool plaza = chance(0.5);
    lot_grounds_.push_back([this, side, lot, plaza] {
      const Paint p =
          plaza ? Paint{colour(kPaving), kSidewalk, kPaving, 0} : Paint{colour(kGrass), kTerrain, kGrass, 0};
      canvas_.polygon(ground_strip(side.u(side.outer), side.u(side.outer + 60), lot.z0, lot.z1, kCurbHeight), p);
    });
    if (chance(0.6)) {
      const double setback = uniform(12, 30);
      plan_building(side, lot, setback, uniform(8, 30), lot.z1);
    }
    if (!plaza) plan_lot_front(side, lot);
  }

  // A fence or hedge along the front of a lot.
  void plan_lot_front(const Side& side, const Lot& lot) {
    const double u = side.u(side.outer + 0.15);
    if (chance(style_.p_front_fence)) {
      const double height = uniform(0.9, 1.8);
      const bool solid = chance(0.4);
      const cv::Scalar c = colour(kFenceSurface);
      background_.push_back(
          {lot.z0, std::abs(u), [this, u, lot, height, solid, c] { draw_fence(u, lot.z0, lot.z1, height, solid, c); }});
    } else if (chance(style_.p_front_hedge)) {
      const double u1 = side.u(side.outer + uniform(0.8, 1.4));
      const Box box{std::min(u, u1), std::max(u, u1), 0, uniform(0.8, 1.6), lot.z0, lot.z1};
      const cv::Scalar c = scaled(colour(kFoliage), 0.85);
      background_.push_back({lot.z0, std::abs(u), [this, box, c] {
                               draw_box(box, {c, kVegetation, kFoliage, float((box.z0 + box.z1) / 2)});
                             }});
    }
  }

  // The street ends in a row of facades across it.
  void plan_street_end() {
    const double z = street_end_;
    double u = -150;
    while (u < 150) {
      const double width = uniform(8, 30);
      const Box box{u, u + width, 0, uniform(8, 30), z, z + 15};
      const cv::Scalar wall = colour(kFacade);
      const Side facing{0, 0, 0, 0};  // no street face: windows go on the near face
      background_.push_back({z, 0.0, [this, box, wall, facing] { draw_building(box, facing, wall); }});
      u += width;
    }
  }

  void plan_side_furniture(const Side& side) {
    const double z_max = std::min(street_end_, 120.0);
    if (chance(style_.p_tree_row)) {
      const double d = side.verge > 0 ? side.verge / 2 : std::min(0.8, side.outer / 3);
      const double spacing = uniform(7, 12);
      const double size = uniform(0.8, 1.2);
      for (double z = uniform(1, 8); z < z_max; z += spacing * uniform(0.85, 1.15)) {
        if (in_intersection(z)) continue;
        street_items_.push_back({z, std::abs(side.u(d)), [this, side, d, z, size] {
                                   draw_tree(side.u(d), kCurbHeight, z, size * uniform(0.85, 1.15));
                                 }});
      }
    }
    if (chance(style_.p_lamps)) {
      const double spacing = uniform(18, 35);
      const double height = uniform(6, 9);
      const cv::Scalar c = colour(kMetal);
      for (double z = uniform(2, 15); z < z_max; z += spacing) {
        if (in_intersection(z)) continue;
        street_items_.push_back(
            {z, std::abs(side.u(0.4)), [this, side, z, height, c] { draw_lamp(side, z, height, c); }});
      }
    }
  }

  void plan_traffic_lights() {
    if (!chance(style_.p_traffic_light)) return;
    double z_stop;
    if (has_intersection_) {
      z_stop = cross_z0_;
    } else {
      z_stop = uniform(15, 45);
      if (z_stop > street_end_ - 5) return;
      crosswalks_.push_back(z_stop - uniform(3.5, 4.5));
    }
    // Lights at the near corners, and for our direction on the far corner.
    struct Spot {
      int side;
      double z;
      bool facing;
    };
    std::vector<Spot> spots{{1, z_stop - 1, true}, {-1, z_stop - 1, chance(0.5)}};
    if (has_intersection_ && chance(0.6)) spots.push_back({1, cross_z1_ + 1, true});
    for (const Spot& s : spots) {
      const Side& side = sides_[s.side < 0 ? 0 : 1];
      const bool overhead = s.side > 0 && chance(0.5);
      const cv::Scalar pole = colour(kMetal), housing = colour(kHousing);
      const int lit = pick(3);
      street_items_.push_back({s.z, std::abs(side.u(0.5)), [this, side, s, overhead, pole, housing, lit] {
                                 draw_traffic_light(side, s.z, overhead, s.facing, pole, housing, lit);
                               }});
    }
  }

  // Vehicles: parked along the curbs, moving in the lanes (same direction: rear visible;
  // oncoming: front visible).
  void plan_vehicles() {
    struct Occupied {
      double u, z0, z1;
    };
    std::vector<Occupied> taken;
    auto free = [&](double u, double z0, double z1) {
      for (const auto& o : taken)
        if (std::abs(o.u - u) < 2.2 && z0 < o.z1 + 1.5 && z1 > o.z0 - 1.5) return false;
      return true;
    };
    auto add = [&](int kind, double u, double z0, bool oncoming) {
      const double length = kind == kCar ? 4.8 : kind == kBus ? 12 : kind == kTruck ? 9.2 : 2.2;
      if (in_intersection(z0) || in_intersection(z0 + length) || z0 + length > street_end_) return;
      if (!free(u, z0, z0 + length)) return;
      taken.push_back({u, z0, z0 + length});
      const cv::Scalar body = colour(kind == kCar     ? kCarBody
                                     : kind == kBus   ? kBusBody
                                     : kind == kTruck ? kTruckBody
                                                      : kFrame);
      street_items_.push_back({z0, std::abs(u), [this, kind, u, z0, oncoming, body] {
                                 if (kind == kCar)
                                   draw_car(u, z0, oncoming, body);
                                 else if (kind == kBus)
                                   draw_bus(u, z0, oncoming, body);
                                 else if (kind == kTruck)
                                   draw_truck(u, z0, oncoming, body);
                                 else
                                   draw_motorcycle(u, z0 + 1.1, oncoming, body);
                               }});
    };
    auto lane_u = [&](int lane) { return lane * lane_width_ + uniform(-0.3, 0.3); };
    auto oncoming = [&](int lane) { return lane < -lanes_left_ + oncoming_lanes_; };
    auto random_lane = [&] { return rng_.uniform(-lanes_left_, lanes_right_ + 1); };
    for (int i = 0; i < 2; ++i) {
      if (parking_[i] <= 0) continue;
      const Side& side = sides_[i];
      for (int n = count(style_.parked_cars_per_side); n > 0; --n) {
        const double z = uniform(1, 70);
        add(kCar, side.curb - side.sign * 1.15, z, side.sign < 0 && chance(0.5));
      }
    }
    for (int n = count(style_.moving_cars); n > 0; --n) {
      const int lane = random_lane();
      const double u = lane_u(lane), z = uniform(lane == 0 ? 9 : 4, 90);
      add(kCar, u, z, oncoming(lane));
    }
    for (int kind : {kBus, kTruck}) {
      if (!chance(kind == kBus ? style_.p_bus : style_.p_truck)) continue;
      const int lane = random_lane();
      const double u = lane_u(lane), z = uniform(lane == 0 ? 12 : 6, 60);
      add(kind, u, z, oncoming(lane));
    }
    if (chance(style_.p_motorcycle)) {
      const int lane = random_lane();
      const double u = lane_u(lane), z = uniform(6, 50);
      add(kMotorcycle, u, z, oncoming(lane));
    }
  }

  void plan_people() {
    const int persons = count(style_.persons);
    for (int i = 0; i < persons; ++i) {
      const Look look = sample_look();
      const double height = uniform(1.55, 1.95), stride = uniform(-1, 1);
      if (!crosswalks_.empty() && chance(0.25)) {  // crossing the road
        const double crosswalk = crosswalks_[pick(static_cast<int>(crosswalks_.size()))];
        const double z = crosswalk + uniform(0.5, 2.5);
        const double u = uniform(sides_[0].curb, sides_[1].curb);
        const double heading = crossing_heading(0.3);
        street_items_.push_back({z, std::abs(u), [this, u, z, heading, height, stride, look] {
                                   draw_person(figure(u, 0, z, heading), height, stride, look, kPerson);
                                 }});
        continue;
      }
      const Side& side = sides_[pick(2)];
      double z = uniform(2, 60);
      if (in_intersection(z) || z > street_end_) z = uniform(2, has_intersection_ ? cross_z0_ : 10);
      const double d = uniform(side.verge + 0.4, side.outer - 0.3);
      const double heading = chance(0.8) ? along_heading(0.35) : uniform(-kPi, kPi);
      street_items_.push_back({z, std::abs(side.u(d)), [this, side, d, z, heading, height, stride, look] {
                                 draw_person(figure(side.u(d), kCurbHeight, z, heading), height, stride, look, kPerson);
                               }});
      if (chance(0.25)) {  // a companion walking alongside
        const Look other = sample_look();
        const double d2 = std::clamp(d + uniform(0.5, 0.8), side.verge + 0.3, side.outer);
        const double z2 = z + uniform(-0.5, 0.5);
        street_items_.push_back({z2, std::abs(side.u(d2)), [this, side, d2, z2, heading, height, other] {
                                   draw_person(figure(side.u(d2), kCurbHeight, z2, heading), height * 0.97, -0.5, other,
                                               kPerson);
                                 }});
      }
    }
    if (chance(style_.p_rider)) {
      for (int n = chance(0.3) ? 2 : 1; n > 0; --n) {
        double u, z, heading;
        if (has_intersection_ && chance(0.3)) {
          u = uniform(road_left_, road_right_);
          z = uniform(cross_z0_ + 2, cross_z1_ - 2);
          heading = crossing_heading(0);
        } else if (chance(0.7)) {
          u = road_right_ - 0.8;
          z = uniform(6, 45);
          heading = uniform(-0.6, 0.6);
        } else {
          u = road_left_ + 0.8;
          z = uniform(6, 45);
          heading = kPi + uniform(-0.6, 0.6);
        }
        if (z > street_end_) continue;
        const Look look = sample_look();
        const cv::Scalar frame = colour(kFrame);
        street_items_.push_back({z, std::abs(u), [this, u, z, heading, look, frame] {
                                   const Figure f = figure(u, 0, z, heading);
                                   draw_bicycle(f, frame);
                                   draw_rider(f, look, 1.0);
                                 }});
      }
    }
    if (chance(style_.p_parked_bicycle)) {
      const Side& side = sides_[pick(2)];
      const double z0 = uniform(3, 30), d = side.outer - 0.5;
      const double heading = crossing_heading(0.2);
      for (int n = count({1, 3}); n > 0; --n) {
        const double z = z0 + n * 0.7;
        if (in_intersection(z)) continue;
        const cv::Scalar frame = colour(kFrame);
        street_items_.push_back({z, std::abs(side.u(d)), [this, side, d, z, heading, frame] {
                                   draw_bicycle(figure(side.u(d), kCurbHeight, z, heading), frame);
                                 }});
      }
    }
    // Traffic signs at the curbs.
    for (int n = count(style_.signs); n > 0; --n) {
      const Side& side = sides_[pick(2)];
      const double z = uniform(4, 70);
      if (in_intersection(z) || z > street_end_) continue;
      const int shape = pick(4);
      const bool facing = chance(0.75);
      street_items_.push_back(
          {z, std::abs(side.u(0.35)), [this, side, z, shape, facing] { draw_sign(side, z, shape, facing); }});
    }
  }

  // Walking along the street (away from or towards the camera), or across it.
  double along_heading(double spread) {
    const double base = chance(0.5) ? 0.0 : kPi;
    return base + uniform(-spread, spread);
  }
  double crossing_heading(double spread) {
    const double base = chance(0.5) ? 0.5 * kPi : -0.5 * kPi;
    return base + uniform(-spread, spread);
  }

  struct Look {
    cv::Scalar top, bottom, skin, hair;
  };
  Look sample_look() { return {colour(kClothes), scaled(colour(kClothes), 0.8), colour(kSkin), colour(kHair)}; }

  // --- drawing: background -------------------------------------------------
  void draw_sky() {
    const cv::Scalar sky = colour(kSkySurface);
    const cv::Scalar top = scaled(sky, domain_ == SynthDomain::Source ? 0.8 : 0.92);
    const cv::Scalar low = mixed(sky, cv::Scalar::all(255), domain_ == SynthDomain::Source ? 0.35 : 0.2);
    cv::Mat column(size_.height, 1, CV_8UC3);
    for (int y = 0; y < size_.height; ++y) {
      const double t = std::clamp(y / std::max(1.0, cam_.horizon), 0.0, 1.0);
      const cv::Scalar c = mixed(top, low, t);
      column.at<cv::Vec3b>(y) =
          cv::Vec3b(cv::saturate_cast<uchar>(c[0]), cv::saturate_cast<uchar>(c[1]), cv::saturate_cast<uchar>(c[2]));
    }
    cv::repeat(column, 1, size_.width, canvas_.image);
    canvas_.label.setTo(cv::Scalar(kSky));
    if (chance(style_.p_clouds)) {
      for (int n = count({2, 5}); n > 0; --n) {
        const cv::Point2d c{uniform(0, size_.width), uniform(0, cam_.horizon * 0.6)};
        const cv::Size2d axes{uniform(0.05, 0.15) * size_.width, uniform(0.02, 0.05) * size_.height};
        canvas_.ellipse(c, axes, {colour(kCloud), kSky, kCloud, kSkyDepth});
      }
    }
  }

  // Distant buildings and trees along the horizon.
  void draw_skyline() {
    const float depth = 400;
    const cv::Scalar sky = canvas_.image.at<cv::Vec3b>(std::max(0, int(cam_.horizon) - 1), 0);
    double x = -uniform(0, 0.1) * size_.width;
    while (x < size_.width) {
      const double w = uniform(0.04, 0.15) * size_.width;
      const bool trees = chance(domain_ == SynthDomain::Source ? 0.2 : 0.4);
      const double h = (trees ? uniform(0.02, 0.07) : uniform(0.02, 0.18)) * size_.height;
      const double y1 = cam_.horizon + 1;
      if (trees) {
        const Paint p{mixed(colour(kFoliage), sky, 0.3), kVegetation, kFoliage, depth};
        for (double cx = x; cx < x + w; cx += h * 0.8) canvas_.circle({cx, y1 - h * 0.6}, h * 0.7, p);
        canvas_.polygon({{x, y1}, {x + w, y1}, {x + w, y1 - h * 0.6}, {x, y1 - h * 0.6}}, p);
      } else {
        const Paint p{mixed(colour(kFacade), sky, 0.35), kBuilding, kFacade, depth};
        canvas_.polygon({{x, y1}, {x + w, y1}, {x + w, y1 - h}, {x, y1 - h}}, p);
      }
      x += w;
    }
  }

  void draw_ground() {
    // Beyond everything else: open grass.
    const double y_top = std::floor(cam_.horizon);
    canvas_.polygon({{-2.0, y_top},
                     {size_.width + 2.0, y_top},
                     {size_.width + 2.0, size_.height + 2.0},
                     {-2.0, size_.height + 2.0}},
                    {colour(kGrass), kTerrain, kGrass, 0});
    for (auto& draw : lot_grounds_) draw();
    const cv::Scalar asphalt = colour(kAsphalt);
    const Paint road{asphalt, kRoad, kAsphalt, 0};
    const double z_far = cam_.curve != 0 ? 400 : 1000;
    if (has_intersection_) canvas_.polygon(ground_strip(-200, 200, cross_z0_, cross_z1_, 0), road);
    canvas_.polygon(ground_strip(sides_[0].curb, sides_[1].curb, kNearClip, z_far, 0), road);
    if (style_.surface_detail) draw_road_patches(asphalt);
    draw_markings();
    for (const Side& side : sides_) draw_sidewalk(side, z_far);
    if (domain_ == SynthDomain::Target && chance(kTargetShadowProbability)) draw_shadows();
    // Depth of the ground (for fog): the distance of each row's ground point.
    for (int y = 0; y < size_.height; ++y) {
      const double below = y + 0.5 - cam_.horizon;
      if (below <= 0) continue;
      const float z = static_cast<float>(std::min<double>(kSkyDepth, cam_.f * cam_.height / below));
      canvas_.depth.row(y).setTo(cv::Scalar(z));
    }
  }

  void draw_sidewalk(const Side& side, double z_far) {
    const cv::Scalar paving = colour(kPaving), curb = colour(kCurb), grass = colour(kGrass);
    const auto strip = [&](double d0, double d1, double z0, double z1, double y) {
      return ground_strip(side.u(d0), side.u(d1), z0, z1, y);
    };
    for (auto [z0, z1] : pieces(kNearClip, z_far)) {
      canvas_.polygon(side_strip(side.curb, 0, kCurbHeight, z0, z1), {curb, kSidewalk, kCurb, 0});
      canvas_.polygon(strip(0, 0.25, z0, z1, kCurbHeight), {curb, kSidewalk, kCurb, 0});
      if (side.verge > 0) canvas_.polygon(strip(0.25, side.verge, z0, z1, kCurbHeight), {grass, kTerrain, kGrass, 0});
      canvas_.polygon(strip(std::max(0.25, side.verge), side.outer, z0, z1, kCurbHeight),
                      {paving, kSidewalk, kPaving, 0});
      if (!style_.surface_detail) continue;
      // Paving joints across the sidewalk while they are at least a few pixels apart.
      const Paint joint{scaled(paving, 0.8), kDetail, kPaving, 0};
      for (double z = std::ceil(z0); z < z1; z += 1.0) {
        const double gap =
            cam_.project(side.u(side.outer), kCurbHeight, z).y - cam_.project(side.u(side.outer), kCurbHeight, z + 1).y;
        if (gap < 3) break;
        canvas_.line(cam_.project(side.u(std::max(0.25, side.verge)), kCurbHeight, z),
                     cam_.project(side.u(side.outer), kCurbHeight, z), 1, joint);
      }
    }
  }

  void draw_markings() {
    const bool yellow_centre = domain_ == SynthDomain::Source;
    const cv::Scalar white = colour(kMarking, 0), yellow = colour(kMarking, 2);
    const double far = std::min(street_end_, 150.0);
    const auto stripe = [&](double u, double half, double z0, double z1, const cv::Scalar& c) {
      for (auto [a, b] : pieces(z0, z1))
        canvas_.polygon(ground_strip(u - half, u + half, a, b, 0), {c, kRoad, kMarking, 0});
    };
    const bool worn = style_.surface_detail;
    for (int k = -lanes_left_; k < lanes_right_; ++k) {
      const double u = lane_width_ * (k + 0.5);
      if (oncoming_lanes_ > 0 && k == -lanes_left_ + oncoming_lanes_ - 1) {
        stripe(u, 0.08, kNearClip, far, yellow_centre ? yellow : white);
        if (yellow_centre) stripe(u - 0.25, 0.08, kNearClip, far, yellow);
        continue;
      }
      const double period = uniform(9, 12), dash = uniform(3, 4.5);
      for (double z = uniform(0, period); z < far; z += period)
        if (!worn || chance(0.8)) stripe(u, 0.075, z, z + dash, white);
    }
    stripe(road_left_ + 0.2, 0.07, kNearClip, far, white);
    stripe(road_right_ - 0.2, 0.07, kNearClip, far, white);
    for (double z0 : crosswalks_) {
      for (double u = sides_[0].curb + 0.3; u < sides_[1].curb - 0.5; u += 1.0)
        stripe(u + 0.25, 0.25, z0, z0 + 3, white);
    }
  }

  // Target: repaired patches and darker oil stains on the asphalt.
  void draw_road_patches(const cv::Scalar& asphalt) {
    for (int n = count({1, 5}); n > 0; --n) {
      const double u0 = uniform(road_left_, road_right_ - 1), z0 = uniform(3, 60);
      const double u1 = std::min(road_right_, u0 + uniform(0.8, 4)), z1 = z0 + uniform(1, 8);
      canvas_.polygon(ground_strip(u0, u1, z0, z1, 0), {scaled(asphalt, uniform(0.8, 1.12)), kRoad, kAsphalt, 0});
    }
  }

  // Target: cast shadows of buildings across the street (image only).
  void draw_shadows() {
    cv::Mat mask(size_, CV_8UC1, cv::Scalar(0));
    for (int n = count({1, 3}); n > 0; --n) {
      const Side& side = sides_[pick(2)];
      const double reach = uniform(3, 12), z0 = uniform(0, 50);
      const auto pts = ground_strip(side.u(side.outer), side.u(side.outer - reach), z0, z0 + uniform(8, 40), 0);
      std::vector<cv::Point> ipts(pts.begin(), pts.end());
      cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{ipts}, cv::Scalar(255), cv::LINE_AA);
    }
    cv::Mat darker;
    canvas_.image.convertTo(darker, -1, uniform(0.55, 0.75));
    darker.copyTo(canvas_.image, mask);
  }

  void draw_building(const Box& box, const Side& side, const cv::Scalar& wall) {
    const Paint paint{wall, kBuilding, kFacade, float((std::max(box.z0, kNearClip) + box.z1) / 2)};
    const int faces = draw_box(box, paint);
    // Details go on the face towards the street.
    const BoxFace street_face = side.sign > 0 ? kLowUFace : kHighUFace;
    if (side.sign != 0 && (faces & face_bit(street_face))) {
      draw_facade(side.sign > 0 ? box.u0 : box.u1, box, paint);
    } else if (faces & face_bit(kNearFace)) {
      draw_front_windows(box, paint);
    }
  }

  // Cornice, mortar lines (target), windows and shop fronts on the facade towards the street.
  void draw_facade(double u, const Box& box, const Paint& paint) {
    const double z0 = std::max(box.z0, kNearClip), z1 = box.z1;
    if (z1 <= z0) return;
    const cv::Scalar wall = scaled(paint.colour, style_.side_shade);
    const double floor_h = uniform(2.8, 3.6);
    // Skip the details when the floors are hardly a pixel apart at the near end.
    if (cam_.px_per_m(z0) * floor_h < 2.5) return;
    // Cornice.
    canvas_.polygon(side_strip(u, box.y1 - 0.6, box.y1, z0, z1), paint.detail(scaled(wall, 0.85), kFacade));
    if (style_.surface_detail) {  // mortar/panel lines
      const Paint mortar = paint.detail(scaled(wall, 0.82), kFacade);
      const double course = uniform(0.35, 0.9);
      if (cam_.px_per_m(z0) * course >= 2.5)
        for (double y = course; y < box.y1 - 0.6; y += course)
          canvas_.line(cam_.project(u, y, z0), cam_.project(u, y, z1), 1, mortar);
    }
    const bool shops = chance(0.5);
    const double col = uniform(2.2, 3.6), win_w = uniform(0.9, std::min(1.6, col - 0.6));
    const double win_h = uniform(1.2, 1.7);
    const cv::Scalar glass = colour(kGlass);
    const Paint frame = paint.detail(scaled(wall, 1.2), kFacade);
    const double first = shops ? 3.4 : uniform(0.9, 1.5);
    for (double zc = z0 + uniform(0.8, col); zc + win_w < z1 - 0.3; zc += col) {
      if (cam_.px_per_m(zc) * win_w < 1.0) break;
      for (double y = first; y + win_h < box.y1 - 0.8; y += floor_h) {
        cv::Scalar g = glass;
        if (style_.surface_detail) {
          g = scaled(glass, uniform(0.75, 1.35));
          if (dusk_ && chance(0.3)) g = cv::Scalar(120, 200, 240);  // lit window
          canvas_.polygon(side_rect(u, y - 0.12, y + win_h + 0.12, zc - 0.1, zc + win_w + 0.1), frame);
        }
        canvas_.polygon(side_rect(u, y, y + win_h, zc, zc + win_w), paint.detail(g, kGlass));
      }
    }
    if (shops) {
      for (double zc = z0 + uniform(0.3, 2); zc + 3 < z1; zc += uniform(4, 7)) {
        const double w = uniform(2, 3.5);
        if (zc + w > z1 - 0.3) break;
        canvas_.polygon(side_rect(u, 0.4, 2.7, zc, zc + w), paint.detail(scaled(glass, 0.8), kGlass));
      }
    }
  }

  void draw_front_windows(const Box& box, const Paint& paint) {
    const double z = std::max(box.z0, kNearClip);
    if (cam_.px_per_m(z) < 1.0) return;
    const cv::Scalar glass = colour(kGlass);
    for (double u = box.u0 + 1; u + 1.2 < box.u1 - 0.5; u += 3)
      for (double y = 1.2; y + 1.4 < box.y1 - 0.8; y += 3.2)
        canvas_.polygon(front_rect(u, u + 1.2, y, y + 1.4, z), paint.detail(glass, kGlass));
  }

  // A fence along u: a solid panel fence, or a see-through railing whose whole plane is
  // labelled fence (as Cityscapes annotates them).
  void draw_fence(double u, double z0, double z1, double height, bool solid, const cv::Scalar& c) {
    z0 = std::max(z0, kNearClip);
    if (z1 <= z0) return;
    const float depth = float((z0 + z1) / 2);
    const Paint paint{c, kFence, kFenceSurface, depth};
    if (solid) {
      canvas_.polygon(side_strip(u, 0, height, z0, z1), paint.with(scaled(c, style_.side_shade)));
      for (double z = z0 + 2.5; z < z1; z += 2.5)
        canvas_.line(cam_.project(u, 0, z), cam_.project(u, height, z), 1, paint.detail(scaled(c, 0.7), kFenceSurface));
      return;
    }
    canvas_.label_polygon(side_strip(u, 0, height, z0, z1), kFence, depth);
    const Paint bars = paint.detail(c, kFenceSurface);
    const double spacing = 0.15;
    for (double z = z0; z < z1; z += spacing) {
      const cv::Point2d a = cam_.project(u, 0, z), b = cam_.project(u, height, z);
      if (std::abs(cam_.project(u, 0, z + spacing).x - a.x) < 2) {  // too dense: a solid band
        canvas_.polygon(side_strip(u, 0, height, z, z1), bars.with(scaled(c, 0.9)));
        break;
      }
      canvas_.line(a, b, std::max(1.0, 0.035 * cam_.px_per_m(z)), bars);
    }
    canvas_.polygon(side_strip(u, height - 0.07, height, z0, z1), bars);
    canvas_.polygon(side_strip(u, 0, 0.07, z0, z1), bars);
  }

  // --- drawing: street objects ---------------------------------------------
  void draw_tree(double u, double y, double z, double size) {
    const Figure f = figure(u, y, z, 0);
    const double trunk_h = uniform(1.8, 3.2) * size, trunk_w = uniform(0.12, 0.2) * size;
    const double radius = uniform(1.3, 3.0) * size;
    const float depth = float(z);
    bar(f, trunk_w, 0, trunk_h + radius * 0.5, {colour(kBark), kVegetation, kBark, depth});
    const cv::Scalar leaves = colour(kFoliage);
    const double variation = domain_ == SynthDomain::Source ? 0.08 : 0.18;
    const double cy = trunk_h + radius * 0.85;
    for (int n = count(style_.tree_crown_blobs); n > 0; --n) {
      const double dx = uniform(-0.55, 0.55) * radius, dy = uniform(-0.45, 0.45) * radius;
      const double r = uniform(0.45, 0.7) * radius;
      canvas_.circle(f.at(dx, cy + dy), r * f.s,
                     {scaled(leaves, 1 + uniform(-variation, variation)), kVegetation, kFoliage, depth});
    }
  }

  void draw_lamp(const Side& side, double z, double height, const cv::Scalar& c) {
    const double u = side.u(0.4);
    const Paint p{c, kPole, kMetal, float(z)};
    const Figure f = figure(u, kCurbHeight, z, 0);
    bar(f, 0.08, 0, height, p);
    const double arm = uniform(1.2, 2.2), top = kCurbHeight + height;
    const cv::Point2d a = cam_.project(u, top, z), b = cam_.project(u - side.sign * arm, top + 0.25, z);
    canvas_.line(a, b, std::max(1.0, 0.08 * f.s), p);
    const double ue = u - side.sign * arm;
    canvas_.polygon(front_rect(ue - 0.3, ue + 0.3, top + 0.05, top + 0.25, z), p.with(scaled(c, 0.8)));
  }

  void draw_sign(const Side& side, double z, int shape, bool facing) {
    const double u = side.u(0.35);
    const Figure f = figure(u, kCurbHeight, z, 0);
    const double size = uniform(0.55, 0.8), bottom = uniform(1.9, 2.5);
    bar(f, 0.04, 0, bottom + size / 2, {colour(kMetal), kPole, kMetal, float(z)});
    const cv::Scalar back = colour(kMetal, 1);
    const cv::Point2d centre = f.at(0, bottom + size / 2);
    const double r = size / 2 * f.s;
    static constexpr int kFace[4] = {0, 0, 1, 3};  // red ring, red triangle, blue square, white plate
    const cv::Scalar face = facing ? colour(kSignFace, kFace[shape]) : back;
    const Paint sign{face, kTrafficSign, kSignFace, float(z)};
    const cv::Scalar inner = facing ? colour(kSignFace, shape == 2 ? 3 : shape == 3 ? 2 : 3) : back;
    const Paint detail = sign.detail(inner, kSignFace);
    switch (shape) {
      case 0:
        canvas_.circle(centre, r, sign);
        if (facing) canvas_.circle(centre, r * 0.7, detail);
        break;
      case 1: {
        const std::vector<cv::Point2d> tri{
            {centre.x - r, centre.y + r * 0.8}, {centre.x + r, centre.y + r * 0.8}, {centre.x, centre.y - r * 0.95}};
        canvas_.polygon(tri, sign);
        if (facing)
          canvas_.polygon({{centre.x - r * 0.55, centre.y + r * 0.5},
                           {centre.x + r * 0.55, centre.y + r * 0.5},
                           {centre.x, centre.y - r * 0.45}},
                          detail);
        break;
      }
      default: {
        const double wide = shape == 3 ? 1.4 : 1.0;
        canvas_.polygon({{centre.x - r * wide, centre.y - r},
                         {centre.x + r * wide, centre.y - r},
                         {centre.x + r * wide, centre.y + r},
                         {centre.x - r * wide, centre.y + r}},
                        sign);
        if (facing)
          canvas_.polygon({{centre.x - r * wide * 0.5, centre.y - r * 0.2},
                           {centre.x + r * wide * 0.5, centre.y - r * 0.2},
                           {centre.x + r * wide * 0.5, centre.y + r * 0.2},
                           {centre.x - r * wide * 0.5, centre.y + r * 0.2}},
                          detail);
      }
    }
  }

  void draw_traffic_light(const Side& side, double z, bool overhead, bool facing, const cv::Scalar& pole,
                          const cv::Scalar& housing, int lit) {
    const double u = side.u(0.5);
    const Paint pole_paint{pole, kPole, kMetal, float(z)};
    const Figure f = figure(u, kCurbHeight, z, 0);
    const double height = overhead ? uniform(5, 6) : uniform(2.6, 3.2);
    bar(f, 0.07, 0, height, pole_paint);
    double uh = u, top = kCurbHeight + height + 0.95;
    if (overhead) {
      uh = u - side.sign * uniform(3, 5.5);
      top = kCurbHeight + height - 0.1;
      canvas_.line(cam_.project(u, kCurbHeight + height - 0.1, z), cam_.project(uh, kCurbHeight + height - 0.1, z),
                   std::max(1.0, 0.1 * f.s), pole_paint);
    }
    const Box box{uh - 0.17, uh + 0.17, top - 0.95, top, z, z + 0.3};
    const Paint light{housing, kTrafficLight, kHousing, float(z)};
    if (!(draw_box(box, light) & face_bit(kNearFace)) || !facing) return;
    for (int i = 0; i < 3; ++i) {
      static constexpr int kLampSwatch[3] = {0, 2, 3};  // red, amber, green
      const double yc = top - 0.17 - i * 0.3;
      const cv::Scalar c = scaled(colour(kLamp, kLampSwatch[i]), i == lit ? 1.0 : 0.3);
      canvas_.circle(cam_.project(uh, yc, z), 0.1 * f.s, light.detail(c, kLamp));
    }
  }

  // Tyres under the near end, the hull, wheels on the visible long side.
  int draw_hull(const Box& hull, double wheel_r, const std::vector<double>& axles, const Paint& paint) {
    const Paint tyre = paint.with(colour(kRubber));
    const double zt = hull.z0 + wheel_r + 0.1;
    for (double su : {-1.0, 1.0}) {
      const double uc = su < 0 ? hull.u0 + 0.2 : hull.u1 - 0.2;
      draw_box({uc - 0.13, uc + 0.13, 0, hull.y0 + 0.1, zt - 0.15, zt + 0.15}, tyre);
    }
    const int faces = draw_box(hull, paint);
    const bool low = faces & face_bit(kLowUFace), high = faces & face_bit(kHighUFace);
    if (low || high) {
      const double u = low ? hull.u0 : hull.u1;
      for (double za : axles) {
        canvas_.polygon(side_disc(u, wheel_r, za, wheel_r), tyre);
        if (cam_.px_per_m(za) * wheel_r > 3)
          canvas_.polygon(side_disc(u, wheel_r, za, wheel_r * 0.5), tyre.detail(colour(kCurb), kMetal));
      }
    }
    return faces;
  }

  // Lamps and number plate on the near face of a vehicle.
  void draw_vehicle_front(const Box& hull, bool oncoming, double lamp_y, const Paint& paint) {
    const double z = std::max(hull.z0, kNearClip);
    const Paint lamp = paint.detail(colour(kLamp, oncoming ? 1 : 0), kLamp);
    canvas_.polygon(front_rect(hull.u0 + 0.08, hull.u0 + 0.38, lamp_y, lamp_y + 0.15, z), lamp);
    canvas_.polygon(front_rect(hull.u1 - 0.38, hull.u1 - 0.08, lamp_y, lamp_y + 0.15, z), lamp);
    const double uc = (hull.u0 + hull.u1) / 2;
    canvas_.polygon(front_rect(uc - 0.26, uc + 0.26, hull.y0 + 0.15, hull.y0 + 0.27, z),
                    paint.detail(colour(kMarking, 1), kMarking));
  }

  void draw_car(double u, double z0, bool oncoming, const cv::Scalar& body) {
    const double length = uniform(3.9, 4.8), width = uniform(1.7, 1.9), roof = uniform(1.4, 1.55);
    const Paint paint{body, kCar, kCarBody, float(z0)};
    const Box hull{u - width / 2, u + width / 2, 0.3, 0.95, z0, z0 + length};
    const int faces = draw_hull(hull, 0.33, {z0 + 0.8, z0 + length - 0.8}, paint);
    const double near_gap = oncoming ? 1.3 : 0.8, far_gap = oncoming ? 0.8 : 1.3;
    const Box cabin{hull.u0 + 0.12, hull.u1 - 0.12, 0.95, roof, z0 + near_gap, z0 + length - far_gap};
    const int cabin_faces = draw_box(cabin, paint);
    const Paint glass = paint.detail(colour(kGlass, 2), kGlass);
    if (cabin_faces & face_bit(kNearFace))
      canvas_.polygon(front_rect(cabin.u0 + 0.08, cabin.u1 - 0.08, 1.0, roof - 0.06, cabin.z0), glass);
    for (BoxFace side : {kLowUFace, kHighUFace}) {
      if (!(cabin_faces & face_bit(side))) continue;
      const double us = side == kLowUFace ? cabin.u0 : cabin.u1;
      const double zm = (cabin.z0 + cabin.z1) / 2;
      canvas_.polygon(side_rect(us, 1.0, roof - 0.06, cabin.z0 + 0.1, zm - 0.05), glass);
      canvas_.polygon(side_rect(us, 1.0, roof - 0.06, zm + 0.05, cabin.z1 - 0.1), glass);
    }
    if (faces & face_bit(kNearFace)) draw_vehicle_front(hull, oncoming, 0.72, paint);
  }

  void draw_bus(double u, double z0, bool oncoming, const cv::Scalar& body) {
    const double length = uniform(10, 12);
    const Paint paint{body, kBus, kBusBody, float(z0)};
    const Box hull{u - 1.25, u + 1.25, 0.3, 3.1, z0, z0 + length};
    const int faces = draw_hull(hull, 0.5, {z0 + 2.2, z0 + length - 2.5}, paint);
    const Paint glass = paint.detail(colour(kGlass, 2), kGlass);
    for (BoxFace side : {kLowUFace, kHighUFace}) {
      if (!(faces & face_bit(side))) continue;
      const double us = side == kLowUFace ? hull.u0 : hull.u1;
      for (double z = z0 + 0.4; z + 1.1 < z0 + length - 0.3; z += 1.3)
        canvas_.polygon(side_rect(us, 1.3, 2.6, z, z + 1.1), glass);
    }
    if (faces & face_bit(kNearFace)) {
      const double z = std::max(z0, kNearClip);
      canvas_.polygon(front_rect(hull.u0 + 0.12, hull.u1 - 0.12, oncoming ? 1.2 : 1.6, 2.7, z), glass);
      if (oncoming)
        canvas_.polygon(front_rect(hull.u0 + 0.3, hull.u1 - 0.3, 2.75, 3.0, z), paint.detail(colour(kLamp, 2), kLamp));
      draw_vehicle_front(hull, oncoming, 0.6, paint);
    }
  }

  void draw_truck(double u, double z0, bool oncoming, const cv::Scalar& body) {
    const Paint cargo_paint{body, kTruck, kTruckBody, float(z0)};
    const Paint cab_paint = cargo_paint.with(colour(kTruckBody));
    const double cargo_len = uniform(5.5, 6.8);
    const Box cargo{u - 1.25, u + 1.25, 0.9, uniform(3.2, 3.8), 0, 0};
    auto draw_cargo = [&](double za) {
      Box b = cargo;
      b.z0 = za;
      b.z1 = za + cargo_len;
      const int faces = draw_hull(b, 0.5, {za + 1.0, za + cargo_len - 1.2}, cargo_paint);
      if ((faces & face_bit(kNearFace)) && !oncoming) {
        const double z = std::max(za, kNearClip);
        canvas_.line(cam_.project(u, b.y0 + 0.1, z), cam_.project(u, b.y1 - 0.1, z), 1,
                     cargo_paint.detail(scaled(body, 0.6), kTruckBody));
        draw_vehicle_front(b, false, 1.0, cargo_paint);
      }
    };
    auto draw_cab = [&](double za) {
      const Box b{u - 1.2, u + 1.2, 0.45, 2.9, za, za + 2.3};
      const int faces = draw_hull(b, 0.5, {za + 1.1}, cab_paint);
      const Paint glass = cab_paint.detail(colour(kGlass, 2), kGlass);
      if ((faces & face_bit(kNearFace)) && oncoming) {
        canvas_.polygon(front_rect(b.u0 + 0.15, b.u1 - 0.15, 1.7, 2.7, std::max(za, kNearClip)), glass);
        draw_vehicle_front(b, true, 0.8, cab_paint);
      }
      for (BoxFace side : {kLowUFace, kHighUFace})
        if (faces & face_bit(side))
          canvas_.polygon(side_rect(side == kLowUFace ? b.u0 : b.u1, 1.7, 2.6, za + 0.3, za + 1.5), glass);
    };
    if (oncoming) {  // cab nearest
      draw_cargo(z0 + 2.5);
      draw_cab(z0);
    } else {
      draw_cab(z0 + cargo_len + 0.2);
      draw_cargo(z0);
    }
  }

  void draw_motorcycle(double u, double z, bool oncoming, const cv::Scalar& body) {
    const Figure f = figure(u, 0, z, (oncoming ? kPi : 0) + uniform(-0.3, 0.3));
    const float depth = float(z);
    const Paint tyre{colour(kRubber), kMotorcycle, kRubber, depth};
    for (double fwd : {-0.65, 0.65})
      canvas_.ellipse(f.at(0, 0.32, fwd),
                      {std::max(0.5, (0.32 * std::abs(f.sin_h) + 0.06 * std::abs(f.cos_h)) * f.s), 0.32 * f.s}, tyre);
    canvas_.ellipse(f.at(0, 0.62, 0), {std::max(0.6, f.across(0.2, 0.6) / 2), 0.25 * f.s},
                    {body, kMotorcycle, kFrame, depth});
    draw_rider(f, sample_look(), 0.95);
  }

  void draw_bicycle(const Figure& f, const cv::Scalar& frame) {
    const float depth = float(f.s > 0 ? cam_.f / f.s : 1);
    const Paint tyre{colour(kRubber), kBicycle, kRubber, depth};
    const Paint tube{frame, kBicycle, kFrame, depth};
    const double r = 0.34, ring = std::max(1.0, 0.05 * f.s), tube_w = std::max(1.0, 0.04 * f.s);
    for (double fwd : {-0.55, 0.55})
      canvas_.ellipse(f.at(0, r, fwd), {std::max(0.5, r * std::abs(f.sin_h) * f.s), r * f.s}, tyre, ring);
    const cv::Point2d rear = f.at(0, r, -0.55), front = f.at(0, r, 0.55), crank = f.at(0, 0.3, -0.02);
    const cv::Point2d seat = f.at(0, 0.95, -0.25), head = f.at(0, 0.98, 0.42);
    const std::pair<cv::Point2d, cv::Point2d> tubes[] = {{rear, crank}, {crank, seat}, {seat, head},
                                                         {head, crank}, {head, front}, {rear, seat}};
    for (const auto& [a, b] : tubes) canvas_.line(a, b, tube_w, tube);
    canvas_.line(f.at(-0.25, 1.05, 0.45), f.at(0.25, 1.05, 0.45), tube_w, tube);
  }

  // Limbs and torso in the figure's own frame, scaled by height / 1.75 m.
  void draw_person(const Figure& f, double height, double stride, const Look& look, int id) {
    const double k = height / 1.75;
    const float depth = float(cam_.f / f.s);
    auto p = [&](double lateral, double up, double forward) { return f.at(lateral * k, up * k, forward * k); };
    const Paint legs{look.bottom, id, kClothes, depth}, top{look.top, id, kClothes, depth};
    const double leg_w = std::max(1.0, f.across(0.075 * k, 0.08 * k));
    canvas_.line(p(-0.09, 0.88, 0), p(-0.1, 0.05, stride * 0.3), leg_w, legs);
    canvas_.line(p(0.09, 0.88, 0), p(0.1, 0.05, -stride * 0.3), leg_w, legs);
    draw_torso(f, p(0, 1.45, 0), p(0, 0.86, 0), k, top);
    const double arm_w = std::max(1.0, f.across(0.045 * k, 0.05 * k));
    canvas_.line(p(-0.21, 1.42, 0), p(-0.24, 0.88, -stride * 0.25), arm_w, top);
    canvas_.line(p(0.21, 1.42, 0), p(0.24, 0.88, stride * 0.25), arm_w, top);
    draw_head(f, p(0, 1.62, 0), 0.11 * k, look, id, depth);
  }

  // A person seated on a bicycle or motorcycle drawn with this figure.
  void draw_rider(const Figure& f, const Look& look, double k) {
    const float depth = float(cam_.f / f.s);
    auto p = [&](double lateral, double up, double forward) { return f.at(lateral * k, up * k, forward * k); };
    const Paint legs{look.bottom, kRider, kClothes, depth}, top{look.top, kRider, kClothes, depth};
    const double leg_w = std::max(1.0, f.across(0.075 * k, 0.08 * k));
    for (double side : {-1.0, 1.0}) {
      const cv::Point2d hip = p(0.09 * side, 1.0, -0.25), knee = p(0.12 * side, 0.68, 0.08 + 0.08 * side);
      canvas_.line(hip, knee, leg_w, legs);
      canvas_.line(knee, p(0.11 * side, 0.32, -0.02 + 0.1 * side), leg_w, legs);
    }
    draw_torso(f, p(0, 1.5, 0.08), p(0, 1.0, -0.25), k, top);
    const double arm_w = std::max(1.0, f.across(0.045 * k, 0.05 * k));
    for (double side : {-1.0, 1.0}) canvas_.line(p(0.2 * side, 1.47, 0.08), p(0.25 * side, 1.05, 0.45), arm_w, top);
    draw_head(f, p(0, 1.67, 0.14), 0.11 * k, look, kRider, depth);
  }

  void draw_torso(const Figure& f, cv::Point2d shoulders, cv::Point2d hips, double k, const Paint& paint) {
    const double ws = std::max(0.5, f.across(0.2 * k, 0.11 * k) / 2),
                 wh = std::max(0.5, f.across(0.16 * k, 0.1 * k) / 2);
    canvas_.polygon({{shoulders.x - ws, shoulders.y},
                     {shoulders.x + ws, shoulders.y},
                     {hips.x + wh, hips.y},
                     {hips.x - wh, hips.y}},
                    paint);
  }

  void draw_head(const Figure& f, cv::Point2d centre, double radius, const Look& look, int id, float depth) {
    const bool facing_away = f.cos_h > 0.3;
    canvas_.circle(centre, std::max(0.6, radius * f.s), {facing_away ? look.hair : look.skin, id, kSkin, depth});
    if (!facing_away && radius * f.s > 2)
      canvas_.circle({centre.x, centre.y - radius * 0.35 * f.s}, radius * 0.62 * f.s,
                     {look.hair, kDetail, kHair, depth});
  }

  void draw_sorted(std::vector<Item>& items) {
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return a.z != b.z ? a.z > b.z : a.lateral > b.lateral; });
    for (auto& item : items) item.draw();
  }

  // --- target look -----------------------------------------------------------
  void finish_target() {
    cv::Mat image;
    canvas_.image.convertTo(image, CV_32FC3);
    add_textures(image);
    light(image);
    if (fog_) add_fog(image);
    const double scale = size_.width / 320.0;
    cv::GaussianBlur(image, image, cv::Size(0, 0),
                     std::max(0.1, uniform(kTargetBlurSigma[0], kTargetBlurSigma[1]) * scale));
    cv::Mat noise(size_, CV_32FC3);
    const double sigma = uniform(kTargetNoiseSigma[0], kTargetNoiseSigma[1]);
    rng_.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(sigma));
    image += noise;
    cv::Mat out;
    image.convertTo(out, CV_8UC3);
    std::vector<uchar> jpeg;
    const int quality = rng_.uniform(kTargetJpegQuality[0], kTargetJpegQuality[1] + 1);
    cv::imencode(".jpg", out, jpeg, {cv::IMWRITE_JPEG_QUALITY, quality});
    canvas_.image = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  }

  void add_textures(cv::Mat& image) {
    cv::Mat grain(size_, CV_32FC1), clump, blotch;
    rng_.fill(grain, cv::RNG::NORMAL, 0, 1);
    cv::GaussianBlur(grain, clump, cv::Size(0, 0), 1.0);
    cv::Scalar mean, stddev;
    cv::meanStdDev(clump, mean, stddev);
    clump /= std::max(1e-6, stddev[0]);
    cv::Mat coarse(std::max(2, size_.height / 16), std::max(2, size_.width / 16), CV_32FC1);
    rng_.fill(coarse, cv::RNG::NORMAL, 0, 1);
    cv::resize(coarse, blotch, size_, 0, 0, cv::INTER_CUBIC);
    cv::Mat lut_grain(1, 256, CV_32FC1, cv::Scalar(0)), lut_clump = lut_grain.clone(), lut_blotch = lut_grain.clone();
    for (int s = 0; s < kSurfaceCount; ++s) {
      lut_grain.at<float>(s) = float(kTargetTexture[s].grain * kTargetTextureStrength);
      lut_clump.at<float>(s) = float(kTargetTexture[s].clump * kTargetTextureStrength);
      lut_blotch.at<float>(s) = float(kTargetTexture[s].blotch * kTargetTextureStrength);
    }
    cv::Mat a_grain, a_clump, a_blotch;
    cv::LUT(canvas_.surface, lut_grain, a_grain);
    cv::LUT(canvas_.surface, lut_clump, a_clump);
    cv::LUT(canvas_.surface, lut_blotch, a_blotch);
    const cv::Mat texture = a_grain.mul(grain) + a_clump.mul(clump) + a_blotch.mul(blotch);
    cv::Mat texture3;
    cv::merge(std::vector<cv::Mat>{texture, texture, texture}, texture3);
    image += texture3;
  }

  // Global brightness, a linear ramp across the image, and the dusk tint.
  void light(cv::Mat& image) {
    const double brightness = uniform(kTargetBrightness[0], kTargetBrightness[1]) * (dusk_ ? kTargetDuskGain : 1.0);
    const double gx = uniform(-kTargetGradient, kTargetGradient), gy = uniform(-kTargetGradient, kTargetGradient);
    cv::Mat xs(1, size_.width, CV_32FC1), ys(size_.height, 1, CV_32FC1);
    for (int x = 0; x < size_.width; ++x) xs.at<float>(x) = float(gx * (2.0 * x / size_.width - 1));
    for (int y = 0; y < size_.height; ++y) ys.at<float>(y) = float(1 + gy * (2.0 * y / size_.height - 1));
    cv::Mat gain = cv::repeat(xs, size_.height, 1) + cv::repeat(ys, 1, size_.width);
    gain *= brightness;
    std::vector<cv::Mat> channels(3);
    for (int c = 0; c < 3; ++c) channels[c] = gain * (dusk_ ? kTargetDuskTint[c] : 1.0);
    cv::Mat gain3;
    cv::merge(channels, gain3);
    image = image.mul(gain3);
  }

  // Blend towards a grey fog with the distance of each pixel.
  void add_fog(cv::Mat& image) {
    cv::Mat transmission;
    cv::exp(canvas_.depth * (-1.0 / uniform(kTargetFogDistance[0], kTargetFogDistance[1])), transmission);
    cv::Mat t3;
    cv::merge(std::vector<cv::Mat>{transmission, transmission, transmission}, t3);
    const double level = uniform(170, 215) * (dusk_ ? kTargetDuskGain : 1.0);
    const cv::Mat fog(size_, CV_32FC3, cv::Scalar::all(level));
    image = image.mul(t3) + fog.mul(cv::Scalar::all(1) - t3);
  }

  SynthDomain domain_;
  const DomainStyle& style_;
  cv::RNG rng_;
  cv::Size size_;
  Canvas canvas_;
  Camera cam_{};
  bool dusk_ = false, fog_ = false;
  double lane_width_ = 3.3, road_left_ = 0, road_right_ = 0;
  int lanes_left_ = 0, lanes_right_ = 0, oncoming_lanes_ = 0;
  double parking_[2] = {0, 0};
  std::array<Side, 2> sides_{};
  bool has_intersection_ = false;
  double cross_z0_ = 0, cross_z1_ = 0, street_end_ = 1e10, lots_end_ = 220;
  std::vector<double> crosswalks_;
  std::vector<std::function<void()>> lot_grounds_;
  std::vector<Item> background_, street_items_;
};

// --- writing the benchmark ---------------------------------------------------
namespace fs = std::filesystem;

std::string zero_padded(int value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*d", width, value);
  return buf;
}

struct Job {
  SynthDomain domain;
  uint64_t seed;
  fs::path image;
  std::vector<fs::path> labels;  // written as labelIds unless the name says TrainIds
};

// Train id → Cityscapes labelId for every byte value (ignore → 0).
const cv::Mat& label_id_lut() {
  static const cv::Mat lut = [] {
    cv::Mat m(1, 256, CV_8UC1, cv::Scalar(0));
    for (int i = 0; i < 19; ++i) m.at<uchar>(i) = static_cast<uchar>(cityscapes_label_id_of_train_id(i));
    return m;
  }();
  return lut;
}

void run_job(const Job& job, cv::Size size) {
  const SynthScene scene = render_synthetic_scene(job.domain, job.seed, size);
  cv::Mat label_ids;
  cv::LUT(scene.label, label_id_lut(), label_ids);
  for (const fs::path& path : job.labels) {
    if (fs::exists(path)) continue;
    const bool train_ids = path.filename().string().find("TrainIds") != std::string::npos;
    write_png_atomically(path, train_ids ? scene.label : label_ids);
  }
  if (!fs::exists(job.image)) write_png_atomically(job.image, scene.image);
}

}  // namespace

SynthScene render_synthetic_scene(SynthDomain domain, uint64_t seed, cv::Size size) {
  if (size.width < 8 || size.height < 8)
    throw Error("synthetic scene size must be at least 8x8 (got " + std::to_string(size.width) + "x" +
                std::to_string(size.height) + ")");
  return SceneRenderer(domain, seed, size).render();
}

int cityscapes_label_id_of_train_id(int train_id) {
  static constexpr int kLabelIds[19] = {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33};
  if (train_id == 255) return 0;
  if (train_id < 0 || train_id >= 19)
    throw Error("not a Cityscapes train id: " + std::to_string(train_id) + " (expected 0-18 or 255)");
  return kLabelIds[train_id];
}

void write_synthetic_benchmark(const SynthOptions& options) {
  if (options.out.empty()) throw Error("synth: no output folder given");
  const std::pair<const char*, int> counts[] = {{"source_train", options.source_train},
                                                {"source_val", options.source_val},
                                                {"target_train", options.target_train},
                                                {"target_val", options.target_val}};
  for (const auto& [name, n] : counts)
    if (n < 0) throw Error(std::string("synth: ") + name + " must not be negative (got " + std::to_string(n) + ")");
  if (options.threads < 1)
    throw Error("synth: threads must be at least 1 (got " + std::to_string(options.threads) + ")");
  if (options.size.width < 8 || options.size.height < 8)
    throw Error("synth: image size must be at least 8x8 (got " + std::to_string(options.size.width) + "x" +
                std::to_string(options.size.height) + ")");

  const fs::path root(options.out), source = root / "source", target = root / "target";
  // Per-image seeds depend on (seed, domain, index) only, never on the thread count.
  auto image_seed = [&](SynthDomain domain, int index) {
    return splitmix64(splitmix64(options.seed) ^
                      splitmix64((uint64_t(domain == SynthDomain::Target) << 32) | uint64_t(index)));
  };

  std::vector<Job> jobs;
  std::string train_list, val_list;
  const int source_total = options.source_train + options.source_val;
  for (int i = 0; i < source_total; ++i) {
    const std::string stem = zero_padded(i + 1, 5);
    (i < options.source_train ? train_list : val_list) += stem + "\n";
    jobs.push_back({SynthDomain::Source,
                    image_seed(SynthDomain::Source, i),
                    source / "images" / (stem + ".png"),
                    {source / "labels" / (stem + ".png")}});
  }
  const int target_total = options.target_train + options.target_val;
  for (int i = 0; i < target_total; ++i) {
    const std::string split = i < options.target_train ? "train" : "val";
    const std::string name = "synth_000000_" + zero_padded(i, 6);
    const fs::path gt = target / "gtFine" / split / "synth";
    jobs.push_back({SynthDomain::Target,
                    image_seed(SynthDomain::Target, i),
                    target / "leftImg8bit" / split / "synth" / (name + "_leftImg8bit.png"),
                    {gt / (name + "_gtFine_labelIds.png"), gt / (name + "_gtFine_labelTrainIds.png")}});
  }

  for (const fs::path& folder : {source, source / "images", source / "labels"}) remove_stale_temporaries(folder);
  for (const char* split : {"train", "val"})
    for (const char* kind : {"leftImg8bit", "gtFine"}) remove_stale_temporaries(target / kind / split / "synth");

  const std::pair<fs::path, const std::string*> lists[] = {{source / "train.txt", &train_list},
                                                           {source / "val.txt", &val_list}};
  for (const auto& [path, text] : lists)
    if (!fs::exists(path) || read_text_file(path) != *text) write_text_atomically(path, *text);

  std::vector<const Job*> pending;
  for (const Job& job : jobs) {
    bool done = fs::exists(job.image);
    for (const fs::path& label : job.labels) done = done && fs::exists(label);
    if (!done) pending.push_back(&job);
  }

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    while (!failed) {
      const size_t i = next++;
      if (i >= pending.size()) return;
      try {
        run_job(*pending[i], options.size);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure)
          failure = dynamic_cast<const Error*>(&e)
                        ? std::current_exception()
                        : std::make_exception_ptr(
                              Error("synth: cannot write " + pending[i]->image.string() + ": " + e.what()));
        failed = true;
      }
    }
  };
  const int threads = static_cast<int>(std::min<size_t>(options.threads, std::max<size_t>(1, pending.size())));
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (auto& worker : workers) worker.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace segtransfer
