// Decides what goes where in a synthetic scene: the camera and light, the street's
// cross-section, the lots along both sides (buildings, parks, walls, open ground),
// and the street furniture, vehicles and people. The layout goes into the
// ScenePlan; the objects are queued with the ScenePainter call that draws them,
// to be drawn far to near once everything is planned.
#pragma once
#include <opencv2/core.hpp>

#include <functional>
#include <utility>
#include <vector>

#include "data/synthetic/painter.h"
#include "data/synthetic/scene_plan.h"
#include "data/synthetic/style.h"

namespace segtransfer::synthetic {

// Objects drawn once everything is planned, farthest first (ties: farther from the
// road axis first), so that nearer objects cover farther ones.
class DrawQueue {
 public:
  void add(double z, double lateral, std::function<void()> draw) { items_.push_back({z, lateral, std::move(draw)}); }
  void draw_far_to_near();

 private:
  struct Item {
    double z, lateral;
    std::function<void()> draw;
  };
  std::vector<Item> items_;
};

class ScenePlanner {
 public:
  // Fills in `plan`; the queued objects draw with `painter`.
  ScenePlanner(Sampler& random, cv::Size size, ScenePlan& plan, ScenePainter& painter);

  void plan_camera_and_street();
  // The lots along both sides and, where the street ends, the facades across it.
  void plan_lots();
  // Trees, lamps, traffic lights, vehicles, people and signs.
  void plan_street_objects();

  DrawQueue& background() { return background_; }          // lots
  DrawQueue& street_objects() { return street_objects_; }  // drawn over the background

 private:
  void plan_camera_and_light();
  void plan_street();
  void plan_lots_along(const Side& side);
  void plan_building(const Side& side, const Lot& lot, double setback, double height, double sort_z);
  void plan_park(const Side& side, const Lot& lot);
  void plan_wall_lot(const Side& side, const Lot& lot);
  void plan_open_lot(const Side& side, const Lot& lot);
  void plan_lot_front(const Side& side, const Lot& lot);
  void plan_street_end();

  void plan_side_furniture(const Side& side);
  void plan_traffic_lights();
  void plan_vehicles();
  void plan_pedestrians();
  void plan_cyclists();
  void plan_parked_bicycles();
  void plan_signs();
  double along_heading(double spread);
  double crossing_heading(double spread);

  Sampler& random_;
  const DomainStyle& style_;
  const cv::Size size_;
  ScenePlan& plan_;
  Camera& cam_;  // plan_.camera
  ScenePainter& painter_;
  DrawQueue background_, street_objects_;
};

}  // namespace segtransfer::synthetic
