// The plan of one synthetic scene, as ScenePlanner lays it out and ScenePainter
// reads it: camera and light, the street's cross-section (lanes, parking, curbs,
// verges, sidewalks), the cross street, where the street ends, and the open lots.
#pragma once
#include <array>
#include <utility>
#include <vector>

#include "data/synthetic/canvas.h"

namespace segtransfer::synthetic {

// One side of the street, from the curb outwards.
struct Side {
  int sign;             // -1 left, +1 right
  double curb;          // u of the curb
  double verge, outer;  // distances beyond the curb: grass verge width, end of the sidewalk
  double u(double d) const { return curb + sign * d; }
};

// A stretch of one side behind the sidewalk, [z0, z1).
struct Lot {
  double z0, z1;
};

// A lot left open (a plaza or grass), whose ground is drawn with the street's ground.
struct OpenLot {
  Side side;
  Lot lot;
  bool plaza;  // paved, else grass
};

struct ScenePlan {
  Camera camera{};
  bool dusk = false, fog = false;  // target only
  double lane_width = 3.3, road_left = 0, road_right = 0;
  int lanes_left = 0, lanes_right = 0, oncoming_lanes = 0;
  double parking[2] = {0, 0};  // parking lane width, left and right
  std::array<Side, 2> sides{};
  bool has_intersection = false;
  double cross_z0 = 0, cross_z1 = 0, street_end = 1e10, lots_end = 220;
  std::vector<double> crosswalks;  // near edge z
  std::vector<OpenLot> open_lots;

  bool in_intersection(double z) const { return has_intersection && z > cross_z0 && z < cross_z1; }
  // [z0, z1) without the cross street.
  std::vector<std::pair<double, double>> pieces(double z0, double z1) const {
    if (!has_intersection || z1 <= cross_z0 || z0 >= cross_z1) return {{z0, z1}};
    std::vector<std::pair<double, double>> out;
    if (z0 < cross_z0) out.push_back({z0, cross_z0});
    if (z1 > cross_z1) out.push_back({cross_z1, z1});
    return out;
  }
};

}  // namespace segtransfer::synthetic
