// The target domain's camera and weather, applied to a finished drawing: surface
// textures, a brightness ramp and the dusk tint, fog by depth, blur, sensor noise
// and JPEG artefacts (their knobs are at the top of style.h).
#pragma once
#include "data/synthetic/canvas.h"
#include "data/synthetic/style.h"

namespace segtransfer::synthetic {

// Replaces canvas.image; reads the surface and depth maps.
void apply_target_look(Canvas& canvas, Sampler& random, bool dusk, bool fog);

}  // namespace segtransfer::synthetic
