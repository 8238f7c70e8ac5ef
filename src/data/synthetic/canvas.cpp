#include "data/synthetic/canvas.h"

#include <opencv2/imgproc.hpp>

namespace segtransfer::synthetic {
namespace {

constexpr int kShift = 4;  // fixed-point bits for sub-pixel drawing
constexpr double kFixed = 1 << kShift;

cv::Point to_fixed(const cv::Point2d& p) {
  constexpr double kLimit = 1e5;  // far outside any image, well inside int range once shifted
  return {static_cast<int>(std::lround(std::clamp(p.x, -kLimit, kLimit) * kFixed)),
          static_cast<int>(std::lround(std::clamp(p.y, -kLimit, kLimit) * kFixed))};
}

std::vector<cv::Point> to_fixed(const std::vector<cv::Point2d>& points) {
  std::vector<cv::Point> fixed(points.size());
  std::transform(points.begin(), points.end(), fixed.begin(), [](const cv::Point2d& p) { return to_fixed(p); });
  return fixed;
}

}  // namespace

Canvas::Canvas(cv::Size size)
    : image(size, CV_8UC3, cv::Scalar::all(0)),
      label(size, CV_8UC1, cv::Scalar(255)),
      surface(size, CV_8UC1, cv::Scalar(kSkySurface)),
      depth(size, CV_32FC1, cv::Scalar(kSkyDepth)) {}

// The same shape into the maps: the surface always, label and depth unless it is a detail.
template <class Draw>
void Canvas::for_maps(const Paint& paint, Draw draw) {
  draw(surface, cv::Scalar(paint.surface));
  if (paint.train_id == kDetail) return;
  draw(label, cv::Scalar(paint.train_id));
  draw(depth, cv::Scalar(paint.depth));
}

void Canvas::polygon(const std::vector<cv::Point2d>& points, const Paint& paint) {
  if (points.size() < 3) return;
  const std::vector<cv::Point> fixed = to_fixed(points);
  const cv::Point* data = fixed.data();
  const int n = static_cast<int>(fixed.size());
  cv::fillPoly(image, &data, &n, 1, paint.colour, cv::LINE_AA, kShift);
  for_maps(paint,
           [&](cv::Mat& map, const cv::Scalar& value) { cv::fillPoly(map, &data, &n, 1, value, cv::LINE_8, kShift); });
}

void Canvas::label_polygon(const std::vector<cv::Point2d>& points, int train_id, float z) {
  const std::vector<cv::Point> fixed = to_fixed(points);
  const cv::Point* data = fixed.data();
  const int n = static_cast<int>(fixed.size());
  cv::fillPoly(label, &data, &n, 1, cv::Scalar(train_id), cv::LINE_8, kShift);
  cv::fillPoly(depth, &data, &n, 1, cv::Scalar(z), cv::LINE_8, kShift);
}

void Canvas::line(cv::Point2d a, cv::Point2d b, double width, const Paint& paint) {
  const int thickness = std::max(1, static_cast<int>(std::lround(width)));
  cv::line(image, to_fixed(a), to_fixed(b), paint.colour, thickness, cv::LINE_AA, kShift);
  for_maps(paint, [&](cv::Mat& map, const cv::Scalar& value) {
    cv::line(map, to_fixed(a), to_fixed(b), value, thickness, cv::LINE_8, kShift);
  });
}

void Canvas::ellipse(cv::Point2d centre, cv::Size2d axes, const Paint& paint, double width) {
  const int thickness = width < 0 ? cv::FILLED : std::max(1, static_cast<int>(std::lround(width)));
  const cv::Size fixed_axes(std::max(1, static_cast<int>(std::lround(axes.width * kFixed))),
                            std::max(1, static_cast<int>(std::lround(axes.height * kFixed))));
  cv::ellipse(image, to_fixed(centre), fixed_axes, 0, 0, 360, paint.colour, thickness, cv::LINE_AA, kShift);
  for_maps(paint, [&](cv::Mat& map, const cv::Scalar& value) {
    cv::ellipse(map, to_fixed(centre), fixed_axes, 0, 0, 360, value, thickness, cv::LINE_8, kShift);
  });
}

void Canvas::bar(const Figure& f, double half_width, double y0, double y1, const Paint& paint) {
  const double h = std::max(0.5, half_width * f.s);
  const cv::Point2d a = f.at(0, y0), b = f.at(0, y1);
  polygon({{a.x - h, a.y}, {a.x + h, a.y}, {b.x + h, b.y}, {b.x - h, b.y}}, paint);
}

std::vector<cv::Point2d> Camera::strip(double ua, double ya, double ub, double yb, double z0, double z1) const {
  z0 = std::max(z0, kNearClip);
  if (z1 <= z0) return {};
  const int n = curve != 0 ? 24 : 1;  // a curving road needs the edges sampled
  std::vector<cv::Point2d> pts;
  for (int i = 0; i <= n; ++i) pts.push_back(project(ua, ya, z0 * std::pow(z1 / z0, double(i) / n)));
  for (int i = n; i >= 0; --i) pts.push_back(project(ub, yb, z0 * std::pow(z1 / z0, double(i) / n)));
  return pts;
}

std::vector<cv::Point2d> Camera::ground_strip(double u0, double u1, double z0, double z1, double y) const {
  return strip(u0, y, u1, y, z0, z1);
}

std::vector<cv::Point2d> Camera::side_strip(double u, double y0, double y1, double z0, double z1) const {
  return strip(u, y0, u, y1, z0, z1);
}

std::vector<cv::Point2d> Camera::side_rect(double u, double y0, double y1, double z0, double z1) const {
  return {project(u, y0, z0), project(u, y0, z1), project(u, y1, z1), project(u, y1, z0)};
}

std::vector<cv::Point2d> Camera::front_rect(double u0, double u1, double y0, double y1, double z) const {
  return {project(u0, y0, z), project(u1, y0, z), project(u1, y1, z), project(u0, y1, z)};
}

std::vector<cv::Point2d> Camera::side_disc(double u, double y, double z, double r) const {
  std::vector<cv::Point2d> pts;
  for (int i = 0; i < 12; ++i) {
    const double a = 2 * kPi * i / 12;
    pts.push_back(project(u, y + r * std::sin(a), z + r * std::cos(a)));
  }
  return pts;
}

// Corners ordered so that a face turned towards the camera winds the same way in the
// image as the near face (draw_box culls on that).
std::vector<cv::Point2d> Camera::box_face(const Box& b, BoxFace face) const {
  auto p = [&](double u, double y, double z) { return project(u, y, z); };
  switch (face) {
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

Figure Camera::figure(double u, double y, double z, double heading) const {
  return {project(u, y, z), px_per_m(z), std::cos(heading), std::sin(heading)};
}

}  // namespace segtransfer::synthetic
