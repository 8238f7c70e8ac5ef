// Draws a planned synthetic scene onto the canvas: the sky, the skyline and the
// ground directly (painter.cpp, with the lots' buildings, walls and fences), and
// the street objects the planner queues: trees, lamps, signs, traffic lights,
// vehicles and people (painter_objects.cpp). Sizes and colours not fixed by the
// plan are drawn from the scene's Sampler as each shape is painted.
#pragma once
#include <opencv2/core.hpp>

#include <vector>

#include "data/synthetic/canvas.h"
#include "data/synthetic/scene_plan.h"
#include "data/synthetic/style.h"

namespace segtransfer::synthetic {

class ScenePainter {
 public:
  // `plan` is read when drawing, after the planner has filled it in.
  ScenePainter(Sampler& random, Canvas& canvas, const ScenePlan& plan);

  // --- backdrop, in this order -----------------------------------------------
  void draw_sky();
  void draw_skyline();
  // Grass to the horizon, the open lots, road, markings and sidewalks; sets the ground's depth.
  void draw_ground();

  // --- lots ------------------------------------------------------------------
  // Details go on the face towards the street (side.sign 0: on the near face).
  void draw_building(const Box& box, const Side& side, const cv::Scalar& wall);
  void draw_wall(const Box& box, const cv::Scalar& concrete);
  void draw_hedge(const Box& box, const cv::Scalar& leaves);
  void draw_fence(double u, double z0, double z1, double height, bool solid, const cv::Scalar& c);

  // --- street objects --------------------------------------------------------
  void draw_tree(double u, double y, double z, double size);
  void draw_lamp(const Side& side, double z, double height, const cv::Scalar& c);
  // shape: 0 round, 1 triangle, 2 square, 3 plate; facing: the face, else the back.
  void draw_sign(const Side& side, double z, int shape, bool facing);
  void draw_traffic_light(const Side& side, double z, bool overhead, bool facing, const cv::Scalar& pole,
                          const cv::Scalar& housing, int lit);
  // kind: kCar, kBus, kTruck or kMotorcycle; oncoming vehicles show their front.
  void draw_vehicle(int kind, double u, double z0, bool oncoming, const cv::Scalar& body);
  void draw_person(const Figure& f, double height, double stride, const Look& look);
  void draw_cyclist(const Figure& f, const Look& look, const cv::Scalar& frame);
  void draw_bicycle(const Figure& f, const cv::Scalar& frame);

 private:
  // Shared by lots and street objects.
  int draw_box(Box b, const Paint& paint);

  void draw_open_lot(const OpenLot& open);
  void draw_sidewalk(const Side& side, double z_far);
  void draw_markings();
  void draw_road_patches(const cv::Scalar& asphalt);
  void draw_shadows();
  void draw_facade(double u, const Box& box, const Paint& paint);
  void draw_front_windows(const Box& box, const Paint& paint);

  int draw_hull(const Box& hull, double wheel_r, const std::vector<double>& axles, const Paint& paint);
  void draw_vehicle_front(const Box& hull, bool oncoming, double lamp_y, const Paint& paint);
  void draw_car(double u, double z0, bool oncoming, const cv::Scalar& body);
  void draw_bus(double u, double z0, bool oncoming, const cv::Scalar& body);
  void draw_truck(double u, double z0, bool oncoming, const cv::Scalar& body);
  void draw_motorcycle(double u, double z, bool oncoming, const cv::Scalar& body);
  void draw_rider(const Figure& f, const Look& look, double k);
  void draw_torso(const Figure& f, cv::Point2d shoulders, cv::Point2d hips, double k, const Paint& paint);
  void draw_head(const Figure& f, cv::Point2d centre, double radius, const Look& look, int id, float depth);

  Sampler& random_;
  const DomainStyle& style_;
  Canvas& canvas_;
  const cv::Size size_;
  const ScenePlan& plan_;
  const Camera& cam_;  // plan_.camera
};

}  // namespace segtransfer::synthetic
