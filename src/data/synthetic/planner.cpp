#include "data/synthetic/planner.h"

#include <algorithm>
#include <cmath>

namespace segtransfer::synthetic {

void DrawQueue::draw_far_to_near() {
  std::stable_sort(items_.begin(), items_.end(),
                   [](const Item& a, const Item& b) { return a.z != b.z ? a.z > b.z : a.lateral > b.lateral; });
  for (auto& item : items_) item.draw();
}

ScenePlanner::ScenePlanner(Sampler& random, cv::Size size, ScenePlan& plan, ScenePainter& painter)
    : random_(random), style_(random.style()), size_(size), plan_(plan), cam_(plan.camera), painter_(painter) {}

void ScenePlanner::plan_camera_and_street() {
  plan_camera_and_light();
  plan_street();
}

void ScenePlanner::plan_lots() {
  for (const Side& side : plan_.sides) plan_lots_along(side);
  if (plan_.street_end < 1e9) plan_street_end();
}

void ScenePlanner::plan_street_objects() {
  for (const Side& side : plan_.sides) plan_side_furniture(side);
  plan_traffic_lights();
  plan_vehicles();
  plan_pedestrians();
  plan_cyclists();
  plan_parked_bicycles();
  plan_signs();
}

void ScenePlanner::plan_camera_and_light() {
  const double w = size_.width, h = size_.height;
  const double hfov = random_.uniform(style_.hfov_deg) * kPi / 180;
  cam_.f = 0.5 * w / std::tan(hfov / 2);
  cam_.cx = w / 2 + random_.uniform(-0.03, 0.03) * w;
  cam_.horizon = random_.uniform(style_.horizon) * h;
  cam_.height = random_.uniform(style_.camera_height);
  cam_.yaw = random_.uniform(-0.04, 0.04);
  cam_.curve = random_.chance(style_.p_curve) ? random_.uniform(-0.0012, 0.0012) : 0.0;
  if (random_.domain() == SynthDomain::Target) {
    plan_.dusk = random_.chance(kTargetDuskProbability);
    plan_.fog = random_.chance(kTargetFogProbability);
  }
}

void ScenePlanner::plan_street() {
  plan_.lane_width = random_.uniform(3.0, 3.6);
  const double r = random_.uniform(0.0, 1.0);
  plan_.lanes_left = r < 0.25 ? 0 : r < 0.65 ? 1 : r < 0.9 ? 2 : 3;
  plan_.lanes_right = random_.chance(0.35) ? 1 : 0;
  plan_.oncoming_lanes = plan_.lanes_left > 0 && random_.chance(style_.p_two_way)
                             ? std::min(plan_.lanes_left, std::max(1, (plan_.lanes_left + plan_.lanes_right + 1) / 2))
                             : 0;
  plan_.road_left = -plan_.lane_width * (0.5 + plan_.lanes_left);
  plan_.road_right = plan_.lane_width * (0.5 + plan_.lanes_right);
  plan_.parking[0] = random_.chance(style_.p_parking_lane) ? 2.3 : 0.0;
  plan_.parking[1] = random_.chance(style_.p_parking_lane) ? 2.3 : 0.0;
  for (int i = 0; i < 2; ++i) {
    Side& s = plan_.sides[i];
    s.sign = i == 0 ? -1 : 1;
    s.curb = i == 0 ? plan_.road_left - plan_.parking[0] : plan_.road_right + plan_.parking[1];
    s.verge = random_.chance(style_.p_verge) ? random_.uniform(1.0, 2.5) : 0.0;
    s.outer = s.verge + random_.uniform(1.8, 4.5);
  }
  plan_.has_intersection = random_.chance(style_.p_intersection);
  if (plan_.has_intersection) {
    plan_.cross_z0 = random_.uniform(12, 45);
    plan_.cross_z1 = plan_.cross_z0 + random_.uniform(10, 16);
    plan_.crosswalks.push_back(plan_.cross_z0 - random_.uniform(3.5, 4.5));
  }
  plan_.street_end = random_.chance(style_.p_street_end) ? random_.uniform(55, 140) : 1e10;
  if (plan_.has_intersection && plan_.street_end < plan_.cross_z1 + 15) plan_.street_end = plan_.cross_z1 + 15;
  plan_.lots_end = std::min(plan_.street_end, 220.0);
}

void ScenePlanner::plan_lots_along(const Side& side) {
  const double total = style_.lot_building + style_.lot_park + style_.lot_wall + style_.lot_open;
  double z = random_.uniform(-4, 2);
  while (z < plan_.lots_end) {
    if (plan_.in_intersection(z + 0.01)) {
      z = plan_.cross_z1;
      continue;
    }
    double z1 = std::min(z + random_.uniform(7, 28), plan_.lots_end);
    if (plan_.has_intersection && z < plan_.cross_z0) z1 = std::min(z1, plan_.cross_z0);
    const Lot lot{z, z1};
    const double r = random_.uniform(0, total);
    if (r < style_.lot_building) {
      const double setback = random_.uniform(0, 1.5);
      plan_building(side, lot, setback, random_.chance(0.15) ? random_.uniform(20, 40) : random_.uniform(6, 20),
                    lot.z0);
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
void ScenePlanner::plan_building(const Side& side, const Lot& lot, double setback, double height, double sort_z) {
  const double d0 = side.outer + setback;
  const double u0 = side.u(d0), u1 = side.u(d0 + random_.uniform(12, 25));
  const Box box{std::min(u0, u1), std::max(u0, u1), 0, height, lot.z0, lot.z1};
  const cv::Scalar wall = random_.colour(kFacade);
  background_.add(sort_z, std::abs(u0), [this, box, wall, side] { painter_.draw_building(box, side, wall); });
}

void ScenePlanner::plan_park(const Side& side, const Lot& lot) {
  const int trees = random_.count(style_.park_trees);
  for (int i = 0; i < trees; ++i) {
    const double d = side.outer + random_.uniform(2, 18), z = random_.uniform(lot.z0 + 1, lot.z1 - 1);
    const double size = random_.uniform(0.9, 1.5);
    if (z < 2) continue;
    background_.add(z, std::abs(side.u(d)), [this, side, d, z, size] { painter_.draw_tree(side.u(d), 0, z, size); });
  }
  if (random_.chance(0.5)) {  // a building further back
    const double setback = random_.uniform(15, 35);
    plan_building(side, lot, setback, random_.uniform(8, 25), lot.z1);
  }
  plan_lot_front(side, lot);
}

void ScenePlanner::plan_wall_lot(const Side& side, const Lot& lot) {
  const double height = random_.uniform(1.2, 3.0);
  const double u0 = side.u(side.outer + 0.05), u1 = side.u(side.outer + 0.35);
  const Box box{std::min(u0, u1), std::max(u0, u1), 0, height, lot.z0, lot.z1};
  const cv::Scalar c = random_.colour(kConcrete);
  background_.add(lot.z0, std::abs(u0), [this, box, c] { painter_.draw_wall(box, c); });
  if (random_.chance(0.6)) {
    const double setback = random_.uniform(3, 8);
    plan_building(side, lot, setback, random_.uniform(6, 20), lot.z1);
  } else {
    for (int i = random_.count({1, 3}); i > 0; --i) {
      const double d = side.outer + random_.uniform(1.5, 8), z = random_.uniform(lot.z0 + 1, lot.z1 - 1);
      if (z < 2) continue;
      background_.add(z, std::abs(side.u(d)), [this, side, d, z] { painter_.draw_tree(side.u(d), 0, z, 1.2); });
    }
  }
}

void ScenePlanner::plan_open_lot(const Side& side, const Lot& lot) {
  const bool plaza = random_.chance(0.5);
  plan_.open_lots.push_back({side, lot, plaza});
  if (random_.chance(0.6)) {
    const double setback = random_.uniform(12, 30);
    plan_building(side, lot, setback, random_.uniform(8, 30), lot.z1);
  }
  if (!plaza) plan_lot_front(side, lot);
}

// A fence or hedge along the front of a lot.
void ScenePlanner::plan_lot_front(const Side& side, const Lot& lot) {
  const double u = side.u(side.outer + 0.15);
  if (random_.chance(style_.p_front_fence)) {
    const double height = random_.uniform(0.9, 1.8);
    const bool solid = random_.chance(0.4);
    const cv::Scalar c = random_.colour(kFenceSurface);
    background_.add(lot.z0, std::abs(u),
                    [this, u, lot, height, solid, c] { painter_.draw_fence(u, lot.z0, lot.z1, height, solid, c); });
  } else if (random_.chance(style_.p_front_hedge)) {
    const double u1 = side.u(side.outer + random_.uniform(0.8, 1.4));
    const Box box{std::min(u, u1), std::max(u, u1), 0, random_.uniform(0.8, 1.6), lot.z0, lot.z1};
    const cv::Scalar c = scaled(random_.colour(kFoliage), 0.85);
    background_.add(lot.z0, std::abs(u), [this, box, c] { painter_.draw_hedge(box, c); });
  }
}

// The street ends in a row of facades across it.
void ScenePlanner::plan_street_end() {
  const double z = plan_.street_end;
  double u = -150;
  while (u < 150) {
    const double width = random_.uniform(8, 30);
    const Box box{u, u + width, 0, random_.uniform(8, 30), z, z + 15};
    const cv::Scalar wall = random_.colour(kFacade);
    const Side facing{0, 0, 0, 0};  // no street face: windows go on the near face
    background_.add(z, 0.0, [this, box, wall, facing] { painter_.draw_building(box, facing, wall); });
    u += width;
  }
}

void ScenePlanner::plan_side_furniture(const Side& side) {
  const double z_max = std::min(plan_.street_end, 120.0);
  if (random_.chance(style_.p_tree_row)) {
    const double d = side.verge > 0 ? side.verge / 2 : std::min(0.8, side.outer / 3);
    const double spacing = random_.uniform(7, 12);
    const double size = random_.uniform(0.8, 1.2);
    for (double z = random_.uniform(1, 8); z < z_max; z += spacing * random_.uniform(0.85, 1.15)) {
      if (plan_.in_intersection(z)) continue;
      street_objects_.add(z, std::abs(side.u(d)), [this, side, d, z, size] {
        painter_.draw_tree(side.u(d), kCurbHeight, z, size * random_.uniform(0.85, 1.15));
      });
    }
  }
  if (random_.chance(style_.p_lamps)) {
    const double spacing = random_.uniform(18, 35);
    const double height = random_.uniform(6, 9);
    const cv::Scalar c = random_.colour(kMetal);
    for (double z = random_.uniform(2, 15); z < z_max; z += spacing) {
      if (plan_.in_intersection(z)) continue;
      street_objects_.add(z, std::abs(side.u(0.4)),
                          [this, side, z, height, c] { painter_.draw_lamp(side, z, height, c); });
    }
  }
}

void ScenePlanner::plan_traffic_lights() {
  if (!random_.chance(style_.p_traffic_light)) return;
  double z_stop;
  if (plan_.has_intersection) {
    z_stop = plan_.cross_z0;
  } else {
    z_stop = random_.uniform(15, 45);
    if (z_stop > plan_.street_end - 5) return;
    plan_.crosswalks.push_back(z_stop - random_.uniform(3.5, 4.5));
  }
  // Lights at the near corners, and for our direction on the far corner.
  struct Spot {
    int side;
    double z;
    bool facing;
  };
  std::vector<Spot> spots{{1, z_stop - 1, true}, {-1, z_stop - 1, random_.chance(0.5)}};
  if (plan_.has_intersection && random_.chance(0.6)) spots.push_back({1, plan_.cross_z1 + 1, true});
  for (const Spot& s : spots) {
    const Side& side = plan_.sides[s.side < 0 ? 0 : 1];
    const bool overhead = s.side > 0 && random_.chance(0.5);
    const cv::Scalar pole = random_.colour(kMetal), housing = random_.colour(kHousing);
    const int lit = random_.pick(3);
    street_objects_.add(s.z, std::abs(side.u(0.5)), [this, side, s, overhead, pole, housing, lit] {
      painter_.draw_traffic_light(side, s.z, overhead, s.facing, pole, housing, lit);
    });
  }
}

// Vehicles: parked along the curbs, moving in the lanes (same direction: rear visible;
// oncoming: front visible).
void ScenePlanner::plan_vehicles() {
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
    if (plan_.in_intersection(z0) || plan_.in_intersection(z0 + length) || z0 + length > plan_.street_end) return;
    if (!free(u, z0, z0 + length)) return;
    taken.push_back({u, z0, z0 + length});
    const cv::Scalar body = random_.colour(kind == kCar     ? kCarBody
                                           : kind == kBus   ? kBusBody
                                           : kind == kTruck ? kTruckBody
                                                            : kFrame);
    street_objects_.add(z0, std::abs(u),
                        [this, kind, u, z0, oncoming, body] { painter_.draw_vehicle(kind, u, z0, oncoming, body); });
  };
  auto lane_u = [&](int lane) { return lane * plan_.lane_width + random_.uniform(-0.3, 0.3); };
  auto oncoming = [&](int lane) { return lane < -plan_.lanes_left + plan_.oncoming_lanes; };
  auto random_lane = [&] { return random_.integer(-plan_.lanes_left, plan_.lanes_right); };
  for (int i = 0; i < 2; ++i) {
    if (plan_.parking[i] <= 0) continue;
    const Side& side = plan_.sides[i];
    for (int n = random_.count(style_.parked_cars_per_side); n > 0; --n) {
      const double z = random_.uniform(1, 70);
      add(kCar, side.curb - side.sign * 1.15, z, side.sign < 0 && random_.chance(0.5));
    }
  }
  for (int n = random_.count(style_.moving_cars); n > 0; --n) {
    const int lane = random_lane();
    const double u = lane_u(lane), z = random_.uniform(lane == 0 ? 9 : 4, 90);
    add(kCar, u, z, oncoming(lane));
  }
  for (int kind : {kBus, kTruck}) {
    if (!random_.chance(kind == kBus ? style_.p_bus : style_.p_truck)) continue;
    const int lane = random_lane();
    const double u = lane_u(lane), z = random_.uniform(lane == 0 ? 12 : 6, 60);
    add(kind, u, z, oncoming(lane));
  }
  if (random_.chance(style_.p_motorcycle)) {
    const int lane = random_lane();
    const double u = lane_u(lane), z = random_.uniform(6, 50);
    add(kMotorcycle, u, z, oncoming(lane));
  }
}

// Pedestrians on the sidewalks (some in pairs) and on the crosswalks.
void ScenePlanner::plan_pedestrians() {
  const int persons = random_.count(style_.persons);
  for (int i = 0; i < persons; ++i) {
    const Look look = random_.look();
    const double height = random_.uniform(1.55, 1.95), stride = random_.uniform(-1, 1);
    if (!plan_.crosswalks.empty() && random_.chance(0.25)) {  // crossing the road
      const double crosswalk = plan_.crosswalks[random_.pick(static_cast<int>(plan_.crosswalks.size()))];
      const double z = crosswalk + random_.uniform(0.5, 2.5);
      const double u = random_.uniform(plan_.sides[0].curb, plan_.sides[1].curb);
      const double heading = crossing_heading(0.3);
      street_objects_.add(z, std::abs(u), [this, u, z, heading, height, stride, look] {
        painter_.draw_person(cam_.figure(u, 0, z, heading), height, stride, look);
      });
      continue;
    }
    const Side& side = plan_.sides[random_.pick(2)];
    double z = random_.uniform(2, 60);
    if (plan_.in_intersection(z) || z > plan_.street_end)
      z = random_.uniform(2, plan_.has_intersection ? plan_.cross_z0 : 10);
    const double d = random_.uniform(side.verge + 0.4, side.outer - 0.3);
    const double heading = random_.chance(0.8) ? along_heading(0.35) : random_.uniform(-kPi, kPi);
    street_objects_.add(z, std::abs(side.u(d)), [this, side, d, z, heading, height, stride, look] {
      painter_.draw_person(cam_.figure(side.u(d), kCurbHeight, z, heading), height, stride, look);
    });
    if (random_.chance(0.25)) {  // a companion walking alongside
      const Look other = random_.look();
      const double d2 = std::clamp(d + random_.uniform(0.5, 0.8), side.verge + 0.3, side.outer);
      const double z2 = z + random_.uniform(-0.5, 0.5);
      street_objects_.add(z2, std::abs(side.u(d2)), [this, side, d2, z2, heading, height, other] {
        painter_.draw_person(cam_.figure(side.u(d2), kCurbHeight, z2, heading), height * 0.97, -0.5, other);
      });
    }
  }
}

// Cyclists in the outer lanes or crossing at the intersection.
void ScenePlanner::plan_cyclists() {
  if (!random_.chance(style_.p_rider)) return;
  for (int n = random_.chance(0.3) ? 2 : 1; n > 0; --n) {
    double u, z, heading;
    if (plan_.has_intersection && random_.chance(0.3)) {
      u = random_.uniform(plan_.road_left, plan_.road_right);
      z = random_.uniform(plan_.cross_z0 + 2, plan_.cross_z1 - 2);
      heading = crossing_heading(0);
    } else if (random_.chance(0.7)) {
      u = plan_.road_right - 0.8;
      z = random_.uniform(6, 45);
      heading = random_.uniform(-0.6, 0.6);
    } else {
      u = plan_.road_left + 0.8;
      z = random_.uniform(6, 45);
      heading = kPi + random_.uniform(-0.6, 0.6);
    }
    if (z > plan_.street_end) continue;
    const Look look = random_.look();
    const cv::Scalar frame = random_.colour(kFrame);
    street_objects_.add(z, std::abs(u), [this, u, z, heading, look, frame] {
      painter_.draw_cyclist(cam_.figure(u, 0, z, heading), look, frame);
    });
  }
}

// A few bicycles parked together at the back of a sidewalk.
void ScenePlanner::plan_parked_bicycles() {
  if (!random_.chance(style_.p_parked_bicycle)) return;
  const Side& side = plan_.sides[random_.pick(2)];
  const double z0 = random_.uniform(3, 30), d = side.outer - 0.5;
  const double heading = crossing_heading(0.2);
  for (int n = random_.count({1, 3}); n > 0; --n) {
    const double z = z0 + n * 0.7;
    if (plan_.in_intersection(z)) continue;
    const cv::Scalar frame = random_.colour(kFrame);
    street_objects_.add(z, std::abs(side.u(d)), [this, side, d, z, heading, frame] {
      painter_.draw_bicycle(cam_.figure(side.u(d), kCurbHeight, z, heading), frame);
    });
  }
}

// Traffic signs at the curbs.
void ScenePlanner::plan_signs() {
  for (int n = random_.count(style_.signs); n > 0; --n) {
    const Side& side = plan_.sides[random_.pick(2)];
    const double z = random_.uniform(4, 70);
    if (plan_.in_intersection(z) || z > plan_.street_end) continue;
    const int shape = random_.pick(4);
    const bool facing = random_.chance(0.75);
    street_objects_.add(z, std::abs(side.u(0.35)),
                        [this, side, z, shape, facing] { painter_.draw_sign(side, z, shape, facing); });
  }
}

// Walking along the street (away from or towards the camera), or across it.
double ScenePlanner::along_heading(double spread) {
  const double base = random_.chance(0.5) ? 0.0 : kPi;
  return base + random_.uniform(-spread, spread);
}

double ScenePlanner::crossing_heading(double spread) {
  const double base = random_.chance(0.5) ? 0.5 * kPi : -0.5 * kPi;
  return base + random_.uniform(-spread, spread);
}

}  // namespace segtransfer::synthetic
