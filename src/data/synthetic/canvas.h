// Where the synthetic scenes are drawn: the Canvas every shape goes into (image,
// label, surface and depth maps at once), the pinhole Camera over the flat street
// that turns world shapes into image polygons, and Figures, upright objects drawn
// in screen space at the scale of their ground point.
#pragma once
#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/synthetic/style.h"

namespace segtransfer::synthetic {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kNearClip = 0.5;     // metres
inline constexpr double kCurbHeight = 0.15;  // sidewalks are raised by this much
inline constexpr float kSkyDepth = 1000.f;

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

// Every shape goes into the image (antialiased), the label (not antialiased), the
// surface map (for the target textures) and the depth map (for fog).
class Canvas {
 public:
  explicit Canvas(cv::Size size);

  void polygon(const std::vector<cv::Point2d>& points, const Paint& paint);
  // Labels a region without painting the image (see-through fences).
  void label_polygon(const std::vector<cv::Point2d>& points, int train_id, float z);
  void line(cv::Point2d a, cv::Point2d b, double width, const Paint& paint);
  // Filled when width < 0, else a ring of that width.
  void ellipse(cv::Point2d centre, cv::Size2d axes, const Paint& paint, double width = -1);
  void circle(cv::Point2d centre, double radius, const Paint& paint) { ellipse(centre, {radius, radius}, paint); }
  // A vertical bar of the figure, at least one pixel wide.
  void bar(const Figure& f, double half_width, double y0, double y1, const Paint& paint);

  cv::Mat image, label, surface, depth;

 private:
  template <class Draw>
  void for_maps(const Paint& paint, Draw draw);
};

// An axis-aligned box in street coordinates (u across, y up, z along the street).
struct Box {
  double u0, u1, y0, y1, z0, z1;
};
enum BoxFace { kNearFace, kFarFace, kLowUFace, kHighUFace, kTopFace, kBottomFace };
constexpr int face_bit(BoxFace f) { return 1 << f; }

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

  // A horizontal strip of ground (height y) between two lateral offsets.
  std::vector<cv::Point2d> ground_strip(double u0, double u1, double z0, double z1, double y) const;
  // A vertical strip on the plane u = const (facades, fences, curbs), following a curving road.
  std::vector<cv::Point2d> side_strip(double u, double y0, double y1, double z0, double z1) const;
  // A rectangle on the plane u = const: corners (z0,y0)..(z1,y1), straight even on a curve.
  std::vector<cv::Point2d> side_rect(double u, double y0, double y1, double z0, double z1) const;
  // A rectangle on the plane z = const.
  std::vector<cv::Point2d> front_rect(double u0, double u1, double y0, double y1, double z) const;
  // A disc on the plane u = const (wheels seen from the side).
  std::vector<cv::Point2d> side_disc(double u, double y, double z, double r) const;
  std::vector<cv::Point2d> box_face(const Box& b, BoxFace face) const;
  Figure figure(double u, double y, double z, double heading) const;

 private:
  // The polygon between the lines (ua, ya) and (ub, yb) running from z0 to z1.
  std::vector<cv::Point2d> strip(double ua, double ya, double ub, double yb, double z0, double z1) const;
};

}  // namespace segtransfer::synthetic
