// Layer-wise learning-rate decay (--layer-decay D): a tensor l layers below the head trains at
// D^l x its group's rate. Layers come from the learner (block-level units, stem below, head on
// top), and only layers with a trainable tensor count, so a frozen prefix does not shrink the
// rates of the layers that train.
#pragma once
#include <map>

#include "aft/train/learner.h"

namespace aft::train {

// Each trainable tensor's multiplier, keyed by its TensorImpl; empty when decay is 1 (off).
// Throws when decay is on and the learner gives no layer order.
std::map<const void*, double> layer_decay_scales(Learner& learner, double decay);

}  // namespace aft::train
