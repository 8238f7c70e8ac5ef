#include "data/synthetic/style.h"

namespace segtransfer::synthetic {
namespace {

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

}  // namespace

const DomainStyle& style_of(SynthDomain domain) { return domain == SynthDomain::Source ? kSourceStyle : kTargetStyle; }

const Texture& target_texture(Surface surface) { return kTargetTexture[surface]; }

Sampler::Sampler(SynthDomain domain, uint64_t seed)
    : domain_(domain),
      style_(style_of(domain)),
      rng_(splitmix64(seed ^ splitmix64(domain == SynthDomain::Source ? 0x5EED5 : 0x7A26E7))) {}

void Sampler::fill_normal(cv::Mat& mat, double sigma) {
  rng_.fill(mat, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(sigma));
}

cv::Scalar Sampler::colour(Surface s, int swatch) {
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

Look Sampler::look() { return {colour(kClothes), scaled(colour(kClothes), 0.8), colour(kSkin), colour(kHair)}; }

}  // namespace segtransfer::synthetic
