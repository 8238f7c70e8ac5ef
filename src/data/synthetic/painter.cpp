#include "data/synthetic/painter.h"

#include <opencv2/imgproc.hpp>

namespace segtransfer::synthetic {
namespace {

double signed_area(const std::vector<cv::Point2d>& points) {
  return cv::contourArea(std::vector<cv::Point2f>(points.begin(), points.end()), /*oriented=*/true);
}

}  // namespace

ScenePainter::ScenePainter(Sampler& random, Canvas& canvas, const ScenePlan& plan)
    : random_(random),
      style_(random.style()),
      canvas_(canvas),
      size_(canvas.image.size()),
      plan_(plan),
      cam_(plan.camera) {}

// Draws the faces turned towards the camera (back-face culling against the near face,
// which always faces it) and returns them as a bit set.
int ScenePainter::draw_box(Box b, const Paint& paint) {
  b.z0 = std::max(b.z0, kNearClip);
  if (b.z1 <= b.z0) return 0;
  const double towards = signed_area(cam_.box_face(b, kNearFace));
  int visible = 0;
  for (BoxFace f : {kFarFace, kBottomFace, kLowUFace, kHighUFace, kTopFace, kNearFace}) {
    auto pts = cam_.box_face(b, f);
    if (signed_area(pts) * towards <= 0) continue;
    const double shade = f == kTopFace                         ? style_.top_shade
                         : (f == kLowUFace || f == kHighUFace) ? style_.side_shade
                                                               : 1.0;
    canvas_.polygon(pts, paint.with(scaled(paint.colour, shade)));
    visible |= face_bit(f);
  }
  return visible;
}

// --- backdrop ----------------------------------------------------------------
void ScenePainter::draw_sky() {
  const cv::Scalar sky = random_.colour(kSkySurface);
  const cv::Scalar top = scaled(sky, random_.domain() == SynthDomain::Source ? 0.8 : 0.92);
  const cv::Scalar low = mixed(sky, cv::Scalar::all(255), random_.domain() == SynthDomain::Source ? 0.35 : 0.2);
  cv::Mat column(size_.height, 1, CV_8UC3);
  for (int y = 0; y < size_.height; ++y) {
    const double t = std::clamp(y / std::max(1.0, cam_.horizon), 0.0, 1.0);
    const cv::Scalar c = mixed(top, low, t);
    column.at<cv::Vec3b>(y) =
        cv::Vec3b(cv::saturate_cast<uchar>(c[0]), cv::saturate_cast<uchar>(c[1]), cv::saturate_cast<uchar>(c[2]));
  }
  cv::repeat(column, 1, size_.width, canvas_.image);
  canvas_.label.setTo(cv::Scalar(kSky));
  if (random_.chance(style_.p_clouds)) {
    for (int n = random_.count({2, 5}); n > 0; --n) {
      const cv::Point2d c{random_.uniform(0, size_.width), random_.uniform(0, cam_.horizon * 0.6)};
      const cv::Size2d axes{random_.uniform(0.05, 0.15) * size_.width, random_.uniform(0.02, 0.05) * size_.height};
      canvas_.ellipse(c, axes, {random_.colour(kCloud), kSky, kCloud, kSkyDepth});
    }
  }
}

// Distant buildings and trees along the horizon.
void ScenePainter::draw_skyline() {
  const float depth = 400;
  const cv::Scalar sky = canvas_.image.at<cv::Vec3b>(std::max(0, int(cam_.horizon) - 1), 0);
  double x = -random_.uniform(0, 0.1) * size_.width;
  while (x < size_.width) {
    const double w = random_.uniform(0.04, 0.15) * size_.width;
    const bool trees = random_.chance(random_.domain() == SynthDomain::Source ? 0.2 : 0.4);
    const double h = (trees ? random_.uniform(0.02, 0.07) : random_.uniform(0.02, 0.18)) * size_.height;
    const double y1 = cam_.horizon + 1;
    if (trees) {
      const Paint p{mixed(random_.colour(kFoliage), sky, 0.3), kVegetation, kFoliage, depth};
      for (double cx = x; cx < x + w; cx += h * 0.8) canvas_.circle({cx, y1 - h * 0.6}, h * 0.7, p);
      canvas_.polygon({{x, y1}, {x + w, y1}, {x + w, y1 - h * 0.6}, {x, y1 - h * 0.6}}, p);
    } else {
      const Paint p{mixed(random_.colour(kFacade), sky, 0.35), kBuilding, kFacade, depth};
      canvas_.polygon({{x, y1}, {x + w, y1}, {x + w, y1 - h}, {x, y1 - h}}, p);
    }
    x += w;
  }
}

void ScenePainter::draw_ground() {
  // Beyond everything else: open grass.
  const double y_top = std::floor(cam_.horizon);
  canvas_.polygon(
      {{-2.0, y_top}, {size_.width + 2.0, y_top}, {size_.width + 2.0, size_.height + 2.0}, {-2.0, size_.height + 2.0}},
      {random_.colour(kGrass), kTerrain, kGrass, 0});
  for (const OpenLot& open : plan_.open_lots) draw_open_lot(open);
  const cv::Scalar asphalt = random_.colour(kAsphalt);
  const Paint road{asphalt, kRoad, kAsphalt, 0};
  const double z_far = cam_.curve != 0 ? 400 : 1000;
  if (plan_.has_intersection) canvas_.polygon(cam_.ground_strip(-200, 200, plan_.cross_z0, plan_.cross_z1, 0), road);
  canvas_.polygon(cam_.ground_strip(plan_.sides[0].curb, plan_.sides[1].curb, kNearClip, z_far, 0), road);
  if (style_.surface_detail) draw_road_patches(asphalt);
  draw_markings();
  for (const Side& side : plan_.sides) draw_sidewalk(side, z_far);
  if (random_.domain() == SynthDomain::Target && random_.chance(kTargetShadowProbability)) draw_shadows();
  // Depth of the ground (for fog): the distance of each row's ground point.
  for (int y = 0; y < size_.height; ++y) {
    const double below = y + 0.5 - cam_.horizon;
    if (below <= 0) continue;
    const float z = static_cast<float>(std::min<double>(kSkyDepth, cam_.f * cam_.height / below));
    canvas_.depth.row(y).setTo(cv::Scalar(z));
  }
}

void ScenePainter::draw_open_lot(const OpenLot& open) {
  const Side& side = open.side;
  const Paint p = open.plaza ? Paint{random_.colour(kPaving), kSidewalk, kPaving, 0}
                             : Paint{random_.colour(kGrass), kTerrain, kGrass, 0};
  canvas_.polygon(cam_.ground_strip(side.u(side.outer), side.u(side.outer + 60), open.lot.z0, open.lot.z1, kCurbHeight),
                  p);
}

void ScenePainter::draw_sidewalk(const Side& side, double z_far) {
  const cv::Scalar paving = random_.colour(kPaving), curb = random_.colour(kCurb), grass = random_.colour(kGrass);
  const auto strip = [&](double d0, double d1, double z0, double z1, double y) {
    return cam_.ground_strip(side.u(d0), side.u(d1), z0, z1, y);
  };
  for (auto [z0, z1] : plan_.pieces(kNearClip, z_far)) {
    canvas_.polygon(cam_.side_strip(side.curb, 0, kCurbHeight, z0, z1), {curb, kSidewalk, kCurb, 0});
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

void ScenePainter::draw_markings() {
  const bool yellow_centre = random_.domain() == SynthDomain::Source;
  const cv::Scalar white = random_.colour(kMarking, 0), yellow = random_.colour(kMarking, 2);
  const double far = std::min(plan_.street_end, 150.0);
  const auto stripe = [&](double u, double half, double z0, double z1, const cv::Scalar& c) {
    for (auto [a, b] : plan_.pieces(z0, z1))
      canvas_.polygon(cam_.ground_strip(u - half, u + half, a, b, 0), {c, kRoad, kMarking, 0});
  };
  const bool worn = style_.surface_detail;
  for (int k = -plan_.lanes_left; k < plan_.lanes_right; ++k) {
    const double u = plan_.lane_width * (k + 0.5);
    if (plan_.oncoming_lanes > 0 && k == -plan_.lanes_left + plan_.oncoming_lanes - 1) {
      stripe(u, 0.08, kNearClip, far, yellow_centre ? yellow : white);
      if (yellow_centre) stripe(u - 0.25, 0.08, kNearClip, far, yellow);
      continue;
    }
    const double period = random_.uniform(9, 12), dash = random_.uniform(3, 4.5);
    for (double z = random_.uniform(0, period); z < far; z += period)
      if (!worn || random_.chance(0.8)) stripe(u, 0.075, z, z + dash, white);
  }
  stripe(plan_.road_left + 0.2, 0.07, kNearClip, far, white);
  stripe(plan_.road_right - 0.2, 0.07, kNearClip, far, white);
  for (double z0 : plan_.crosswalks) {
    for (double u = plan_.sides[0].curb + 0.3; u < plan_.sides[1].curb - 0.5; u += 1.0)
      stripe(u + 0.25, 0.25, z0, z0 + 3, white);
  }
}

// Target: repaired patches and darker oil stains on the asphalt.
void ScenePainter::draw_road_patches(const cv::Scalar& asphalt) {
  for (int n = random_.count({1, 5}); n > 0; --n) {
    const double u0 = random_.uniform(plan_.road_left, plan_.road_right - 1), z0 = random_.uniform(3, 60);
    const double u1 = std::min(plan_.road_right, u0 + random_.uniform(0.8, 4)), z1 = z0 + random_.uniform(1, 8);
    canvas_.polygon(cam_.ground_strip(u0, u1, z0, z1, 0),
                    {scaled(asphalt, random_.uniform(0.8, 1.12)), kRoad, kAsphalt, 0});
  }
}

// Target: cast shadows of buildings across the street (image only).
void ScenePainter::draw_shadows() {
  cv::Mat mask(size_, CV_8UC1, cv::Scalar(0));
  for (int n = random_.count({1, 3}); n > 0; --n) {
    const Side& side = plan_.sides[random_.pick(2)];
    const double reach = random_.uniform(3, 12), z0 = random_.uniform(0, 50);
    const auto pts =
        cam_.ground_strip(side.u(side.outer), side.u(side.outer - reach), z0, z0 + random_.uniform(8, 40), 0);
    std::vector<cv::Point> ipts(pts.begin(), pts.end());
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{ipts}, cv::Scalar(255), cv::LINE_AA);
  }
  cv::Mat darker;
  canvas_.image.convertTo(darker, -1, random_.uniform(0.55, 0.75));
  darker.copyTo(canvas_.image, mask);
}

// --- lots --------------------------------------------------------------------
void ScenePainter::draw_building(const Box& box, const Side& side, const cv::Scalar& wall) {
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
void ScenePainter::draw_facade(double u, const Box& box, const Paint& paint) {
  const double z0 = std::max(box.z0, kNearClip), z1 = box.z1;
  if (z1 <= z0) return;
  const cv::Scalar wall = scaled(paint.colour, style_.side_shade);
  const double floor_h = random_.uniform(2.8, 3.6);
  // Skip the details when the floors are hardly a pixel apart at the near end.
  if (cam_.px_per_m(z0) * floor_h < 2.5) return;
  // Cornice.
  canvas_.polygon(cam_.side_strip(u, box.y1 - 0.6, box.y1, z0, z1), paint.detail(scaled(wall, 0.85), kFacade));
  if (style_.surface_detail) {  // mortar/panel lines
    const Paint mortar = paint.detail(scaled(wall, 0.82), kFacade);
    const double course = random_.uniform(0.35, 0.9);
    if (cam_.px_per_m(z0) * course >= 2.5)
      for (double y = course; y < box.y1 - 0.6; y += course)
        canvas_.line(cam_.project(u, y, z0), cam_.project(u, y, z1), 1, mortar);
  }
  const bool shops = random_.chance(0.5);
  const double col = random_.uniform(2.2, 3.6), win_w = random_.uniform(0.9, std::min(1.6, col - 0.6));
  const double win_h = random_.uniform(1.2, 1.7);
  const cv::Scalar glass = random_.colour(kGlass);
  const Paint frame = paint.detail(scaled(wall, 1.2), kFacade);
  const double first = shops ? 3.4 : random_.uniform(0.9, 1.5);
  for (double zc = z0 + random_.uniform(0.8, col); zc + win_w < z1 - 0.3; zc += col) {
    if (cam_.px_per_m(zc) * win_w < 1.0) break;
    for (double y = first; y + win_h < box.y1 - 0.8; y += floor_h) {
      cv::Scalar g = glass;
      if (style_.surface_detail) {
        g = scaled(glass, random_.uniform(0.75, 1.35));
        if (plan_.dusk && random_.chance(0.3)) g = cv::Scalar(120, 200, 240);  // lit window
        canvas_.polygon(cam_.side_rect(u, y - 0.12, y + win_h + 0.12, zc - 0.1, zc + win_w + 0.1), frame);
      }
      canvas_.polygon(cam_.side_rect(u, y, y + win_h, zc, zc + win_w), paint.detail(g, kGlass));
    }
  }
  if (shops) {
    for (double zc = z0 + random_.uniform(0.3, 2); zc + 3 < z1; zc += random_.uniform(4, 7)) {
      const double w = random_.uniform(2, 3.5);
      if (zc + w > z1 - 0.3) break;
      canvas_.polygon(cam_.side_rect(u, 0.4, 2.7, zc, zc + w), paint.detail(scaled(glass, 0.8), kGlass));
    }
  }
}

void ScenePainter::draw_front_windows(const Box& box, const Paint& paint) {
  const double z = std::max(box.z0, kNearClip);
  if (cam_.px_per_m(z) < 1.0) return;
  const cv::Scalar glass = random_.colour(kGlass);
  for (double u = box.u0 + 1; u + 1.2 < box.u1 - 0.5; u += 3)
    for (double y = 1.2; y + 1.4 < box.y1 - 0.8; y += 3.2)
      canvas_.polygon(cam_.front_rect(u, u + 1.2, y, y + 1.4, z), paint.detail(glass, kGlass));
}

void ScenePainter::draw_wall(const Box& box, const cv::Scalar& concrete) {
  const Paint p{concrete, kWall, kConcrete, float((box.z0 + box.z1) / 2)};
  const int faces = draw_box(box, p);
  // A coping along the top edge.
  const double u = faces & face_bit(kLowUFace) ? box.u0 : box.u1;
  if (faces & (face_bit(kLowUFace) | face_bit(kHighUFace)))
    canvas_.polygon(cam_.side_strip(u, box.y1 - 0.12, box.y1, box.z0, box.z1),
                    p.detail(scaled(concrete, 1.15), kConcrete));
}

void ScenePainter::draw_hedge(const Box& box, const cv::Scalar& leaves) {
  draw_box(box, {leaves, kVegetation, kFoliage, float((box.z0 + box.z1) / 2)});
}

// A fence along u: a solid panel fence, or a see-through railing whose whole plane is
// labelled fence (as Cityscapes annotates them).
void ScenePainter::draw_fence(double u, double z0, double z1, double height, bool solid, const cv::Scalar& c) {
  z0 = std::max(z0, kNearClip);
  if (z1 <= z0) return;
  const float depth = float((z0 + z1) / 2);
  const Paint paint{c, kFence, kFenceSurface, depth};
  if (solid) {
    canvas_.polygon(cam_.side_strip(u, 0, height, z0, z1), paint.with(scaled(c, style_.side_shade)));
    for (double z = z0 + 2.5; z < z1; z += 2.5)
      canvas_.line(cam_.project(u, 0, z), cam_.project(u, height, z), 1, paint.detail(scaled(c, 0.7), kFenceSurface));
    return;
  }
  canvas_.label_polygon(cam_.side_strip(u, 0, height, z0, z1), kFence, depth);
  const Paint bars = paint.detail(c, kFenceSurface);
  const double spacing = 0.15;
  for (double z = z0; z < z1; z += spacing) {
    const cv::Point2d a = cam_.project(u, 0, z), b = cam_.project(u, height, z);
    if (std::abs(cam_.project(u, 0, z + spacing).x - a.x) < 2) {  // too dense: a solid band
      canvas_.polygon(cam_.side_strip(u, 0, height, z, z1), bars.with(scaled(c, 0.9)));
      break;
    }
    canvas_.line(a, b, std::max(1.0, 0.035 * cam_.px_per_m(z)), bars);
  }
  canvas_.polygon(cam_.side_strip(u, height - 0.07, height, z0, z1), bars);
  canvas_.polygon(cam_.side_strip(u, 0, 0.07, z0, z1), bars);
}

}  // namespace segtransfer::synthetic
