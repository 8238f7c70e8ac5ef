#include "data/synthetic/painter.h"

namespace segtransfer::synthetic {

void ScenePainter::draw_tree(double u, double y, double z, double size) {
  const Figure f = cam_.figure(u, y, z, 0);
  const double trunk_h = random_.uniform(1.8, 3.2) * size, trunk_w = random_.uniform(0.12, 0.2) * size;
  const double radius = random_.uniform(1.3, 3.0) * size;
  const float depth = float(z);
  canvas_.bar(f, trunk_w, 0, trunk_h + radius * 0.5, {random_.colour(kBark), kVegetation, kBark, depth});
  const cv::Scalar leaves = random_.colour(kFoliage);
  const double variation = random_.domain() == SynthDomain::Source ? 0.08 : 0.18;
  const double cy = trunk_h + radius * 0.85;
  for (int n = random_.count(style_.tree_crown_blobs); n > 0; --n) {
    const double dx = random_.uniform(-0.55, 0.55) * radius, dy = random_.uniform(-0.45, 0.45) * radius;
    const double r = random_.uniform(0.45, 0.7) * radius;
    canvas_.circle(f.at(dx, cy + dy), r * f.s,
                   {scaled(leaves, 1 + random_.uniform(-variation, variation)), kVegetation, kFoliage, depth});
  }
}

void ScenePainter::draw_lamp(const Side& side, double z, double height, const cv::Scalar& c) {
  const double u = side.u(0.4);
  const Paint p{c, kPole, kMetal, float(z)};
  const Figure f = cam_.figure(u, kCurbHeight, z, 0);
  canvas_.bar(f, 0.08, 0, height, p);
  const double arm = random_.uniform(1.2, 2.2), top = kCurbHeight + height;
  const cv::Point2d a = cam_.project(u, top, z), b = cam_.project(u - side.sign * arm, top + 0.25, z);
  canvas_.line(a, b, std::max(1.0, 0.08 * f.s), p);
  const double ue = u - side.sign * arm;
  canvas_.polygon(cam_.front_rect(ue - 0.3, ue + 0.3, top + 0.05, top + 0.25, z), p.with(scaled(c, 0.8)));
}

void ScenePainter::draw_sign(const Side& side, double z, int shape, bool facing) {
  const double u = side.u(0.35);
  const Figure f = cam_.figure(u, kCurbHeight, z, 0);
  const double size = random_.uniform(0.55, 0.8), bottom = random_.uniform(1.9, 2.5);
  canvas_.bar(f, 0.04, 0, bottom + size / 2, {random_.colour(kMetal), kPole, kMetal, float(z)});
  const cv::Scalar back = random_.colour(kMetal, 1);
  const cv::Point2d centre = f.at(0, bottom + size / 2);
  const double r = size / 2 * f.s;
  static constexpr int kFace[4] = {0, 0, 1, 3};  // red ring, red triangle, blue square, white plate
  const cv::Scalar face = facing ? random_.colour(kSignFace, kFace[shape]) : back;
  const Paint sign{face, kTrafficSign, kSignFace, float(z)};
  const cv::Scalar inner = facing ? random_.colour(kSignFace, shape == 2 ? 3 : shape == 3 ? 2 : 3) : back;
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

void ScenePainter::draw_traffic_light(const Side& side, double z, bool overhead, bool facing, const cv::Scalar& pole,
                                      const cv::Scalar& housing, int lit) {
  const double u = side.u(0.5);
  const Paint pole_paint{pole, kPole, kMetal, float(z)};
  const Figure f = cam_.figure(u, kCurbHeight, z, 0);
  const double height = overhead ? random_.uniform(5, 6) : random_.uniform(2.6, 3.2);
  canvas_.bar(f, 0.07, 0, height, pole_paint);
  double uh = u, top = kCurbHeight + height + 0.95;
  if (overhead) {
    uh = u - side.sign * random_.uniform(3, 5.5);
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
    const cv::Scalar c = scaled(random_.colour(kLamp, kLampSwatch[i]), i == lit ? 1.0 : 0.3);
    canvas_.circle(cam_.project(uh, yc, z), 0.1 * f.s, light.detail(c, kLamp));
  }
}

void ScenePainter::draw_vehicle(int kind, double u, double z0, bool oncoming, const cv::Scalar& body) {
  if (kind == kCar)
    draw_car(u, z0, oncoming, body);
  else if (kind == kBus)
    draw_bus(u, z0, oncoming, body);
  else if (kind == kTruck)
    draw_truck(u, z0, oncoming, body);
  else
    draw_motorcycle(u, z0 + 1.1, oncoming, body);  // placed by its near end, drawn at its centre
}

// Tyres under the near end, the hull, wheels on the visible long side.
int ScenePainter::draw_hull(const Box& hull, double wheel_r, const std::vector<double>& axles, const Paint& paint) {
  const Paint tyre = paint.with(random_.colour(kRubber));
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
      canvas_.polygon(cam_.side_disc(u, wheel_r, za, wheel_r), tyre);
      if (cam_.px_per_m(za) * wheel_r > 3)
        canvas_.polygon(cam_.side_disc(u, wheel_r, za, wheel_r * 0.5), tyre.detail(random_.colour(kCurb), kMetal));
    }
  }
  return faces;
}

// Lamps and number plate on the near face of a vehicle.
void ScenePainter::draw_vehicle_front(const Box& hull, bool oncoming, double lamp_y, const Paint& paint) {
  const double z = std::max(hull.z0, kNearClip);
  const Paint lamp = paint.detail(random_.colour(kLamp, oncoming ? 1 : 0), kLamp);
  canvas_.polygon(cam_.front_rect(hull.u0 + 0.08, hull.u0 + 0.38, lamp_y, lamp_y + 0.15, z), lamp);
  canvas_.polygon(cam_.front_rect(hull.u1 - 0.38, hull.u1 - 0.08, lamp_y, lamp_y + 0.15, z), lamp);
  const double uc = (hull.u0 + hull.u1) / 2;
  canvas_.polygon(cam_.front_rect(uc - 0.26, uc + 0.26, hull.y0 + 0.15, hull.y0 + 0.27, z),
                  paint.detail(random_.colour(kMarking, 1), kMarking));
}

void ScenePainter::draw_car(double u, double z0, bool oncoming, const cv::Scalar& body) {
  const double length = random_.uniform(3.9, 4.8), width = random_.uniform(1.7, 1.9), roof = random_.uniform(1.4, 1.55);
  const Paint paint{body, kCar, kCarBody, float(z0)};
  const Box hull{u - width / 2, u + width / 2, 0.3, 0.95, z0, z0 + length};
  const int faces = draw_hull(hull, 0.33, {z0 + 0.8, z0 + length - 0.8}, paint);
  const double near_gap = oncoming ? 1.3 : 0.8, far_gap = oncoming ? 0.8 : 1.3;
  const Box cabin{hull.u0 + 0.12, hull.u1 - 0.12, 0.95, roof, z0 + near_gap, z0 + length - far_gap};
  const int cabin_faces = draw_box(cabin, paint);
  const Paint glass = paint.detail(random_.colour(kGlass, 2), kGlass);
  if (cabin_faces & face_bit(kNearFace))
    canvas_.polygon(cam_.front_rect(cabin.u0 + 0.08, cabin.u1 - 0.08, 1.0, roof - 0.06, cabin.z0), glass);
  for (BoxFace side : {kLowUFace, kHighUFace}) {
    if (!(cabin_faces & face_bit(side))) continue;
    const double us = side == kLowUFace ? cabin.u0 : cabin.u1;
    const double zm = (cabin.z0 + cabin.z1) / 2;
    canvas_.polygon(cam_.side_rect(us, 1.0, roof - 0.06, cabin.z0 + 0.1, zm - 0.05), glass);
    canvas_.polygon(cam_.side_rect(us, 1.0, roof - 0.06, zm + 0.05, cabin.z1 - 0.1), glass);
  }
  if (faces & face_bit(kNearFace)) draw_vehicle_front(hull, oncoming, 0.72, paint);
}

void ScenePainter::draw_bus(double u, double z0, bool oncoming, const cv::Scalar& body) {
  const double length = random_.uniform(10, 12);
  const Paint paint{body, kBus, kBusBody, float(z0)};
  const Box hull{u - 1.25, u + 1.25, 0.3, 3.1, z0, z0 + length};
  const int faces = draw_hull(hull, 0.5, {z0 + 2.2, z0 + length - 2.5}, paint);
  const Paint glass = paint.detail(random_.colour(kGlass, 2), kGlass);
  for (BoxFace side : {kLowUFace, kHighUFace}) {
    if (!(faces & face_bit(side))) continue;
    const double us = side == kLowUFace ? hull.u0 : hull.u1;
    for (double z = z0 + 0.4; z + 1.1 < z0 + length - 0.3; z += 1.3)
      canvas_.polygon(cam_.side_rect(us, 1.3, 2.6, z, z + 1.1), glass);
  }
  if (faces & face_bit(kNearFace)) {
    const double z = std::max(z0, kNearClip);
    canvas_.polygon(cam_.front_rect(hull.u0 + 0.12, hull.u1 - 0.12, oncoming ? 1.2 : 1.6, 2.7, z), glass);
    if (oncoming)
      canvas_.polygon(cam_.front_rect(hull.u0 + 0.3, hull.u1 - 0.3, 2.75, 3.0, z),
                      paint.detail(random_.colour(kLamp, 2), kLamp));
    draw_vehicle_front(hull, oncoming, 0.6, paint);
  }
}

void ScenePainter::draw_truck(double u, double z0, bool oncoming, const cv::Scalar& body) {
  const Paint cargo_paint{body, kTruck, kTruckBody, float(z0)};
  const Paint cab_paint = cargo_paint.with(random_.colour(kTruckBody));
  const double cargo_len = random_.uniform(5.5, 6.8);
  const Box cargo{u - 1.25, u + 1.25, 0.9, random_.uniform(3.2, 3.8), 0, 0};
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
    const Paint glass = cab_paint.detail(random_.colour(kGlass, 2), kGlass);
    if ((faces & face_bit(kNearFace)) && oncoming) {
      canvas_.polygon(cam_.front_rect(b.u0 + 0.15, b.u1 - 0.15, 1.7, 2.7, std::max(za, kNearClip)), glass);
      draw_vehicle_front(b, true, 0.8, cab_paint);
    }
    for (BoxFace side : {kLowUFace, kHighUFace})
      if (faces & face_bit(side))
        canvas_.polygon(cam_.side_rect(side == kLowUFace ? b.u0 : b.u1, 1.7, 2.6, za + 0.3, za + 1.5), glass);
  };
  if (oncoming) {  // cab nearest
    draw_cargo(z0 + 2.5);
    draw_cab(z0);
  } else {
    draw_cab(z0 + cargo_len + 0.2);
    draw_cargo(z0);
  }
}

void ScenePainter::draw_motorcycle(double u, double z, bool oncoming, const cv::Scalar& body) {
  const Figure f = cam_.figure(u, 0, z, (oncoming ? kPi : 0) + random_.uniform(-0.3, 0.3));
  const float depth = float(z);
  const Paint tyre{random_.colour(kRubber), kMotorcycle, kRubber, depth};
  for (double fwd : {-0.65, 0.65})
    canvas_.ellipse(f.at(0, 0.32, fwd),
                    {std::max(0.5, (0.32 * std::abs(f.sin_h) + 0.06 * std::abs(f.cos_h)) * f.s), 0.32 * f.s}, tyre);
  canvas_.ellipse(f.at(0, 0.62, 0), {std::max(0.6, f.across(0.2, 0.6) / 2), 0.25 * f.s},
                  {body, kMotorcycle, kFrame, depth});
  draw_rider(f, random_.look(), 0.95);
}

void ScenePainter::draw_cyclist(const Figure& f, const Look& look, const cv::Scalar& frame) {
  draw_bicycle(f, frame);
  draw_rider(f, look, 1.0);
}

void ScenePainter::draw_bicycle(const Figure& f, const cv::Scalar& frame) {
  const float depth = float(f.s > 0 ? cam_.f / f.s : 1);
  const Paint tyre{random_.colour(kRubber), kBicycle, kRubber, depth};
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
void ScenePainter::draw_person(const Figure& f, double height, double stride, const Look& look) {
  const double k = height / 1.75;
  const float depth = float(cam_.f / f.s);
  auto p = [&](double lateral, double up, double forward) { return f.at(lateral * k, up * k, forward * k); };
  const Paint legs{look.bottom, kPerson, kClothes, depth}, top{look.top, kPerson, kClothes, depth};
  const double leg_w = std::max(1.0, f.across(0.075 * k, 0.08 * k));
  canvas_.line(p(-0.09, 0.88, 0), p(-0.1, 0.05, stride * 0.3), leg_w, legs);
  canvas_.line(p(0.09, 0.88, 0), p(0.1, 0.05, -stride * 0.3), leg_w, legs);
  draw_torso(f, p(0, 1.45, 0), p(0, 0.86, 0), k, top);
  const double arm_w = std::max(1.0, f.across(0.045 * k, 0.05 * k));
  canvas_.line(p(-0.21, 1.42, 0), p(-0.24, 0.88, -stride * 0.25), arm_w, top);
  canvas_.line(p(0.21, 1.42, 0), p(0.24, 0.88, stride * 0.25), arm_w, top);
  draw_head(f, p(0, 1.62, 0), 0.11 * k, look, kPerson, depth);
}

// A person seated on a bicycle or motorcycle drawn with this figure.
void ScenePainter::draw_rider(const Figure& f, const Look& look, double k) {
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

void ScenePainter::draw_torso(const Figure& f, cv::Point2d shoulders, cv::Point2d hips, double k, const Paint& paint) {
  const double ws = std::max(0.5, f.across(0.2 * k, 0.11 * k) / 2), wh = std::max(0.5, f.across(0.16 * k, 0.1 * k) / 2);
  canvas_.polygon(
      {{shoulders.x - ws, shoulders.y}, {shoulders.x + ws, shoulders.y}, {hips.x + wh, hips.y}, {hips.x - wh, hips.y}},
      paint);
}

void ScenePainter::draw_head(const Figure& f, cv::Point2d centre, double radius, const Look& look, int id,
                             float depth) {
  const bool facing_away = f.cos_h > 0.3;
  canvas_.circle(centre, std::max(0.6, radius * f.s), {facing_away ? look.hair : look.skin, id, kSkin, depth});
  if (!facing_away && radius * f.s > 2)
    canvas_.circle({centre.x, centre.y - radius * 0.35 * f.s}, radius * 0.62 * f.s, {look.hair, kDetail, kHair, depth});
}

}  // namespace segtransfer::synthetic
