// The training work a process has done, for budgets (--method auto counts its spend in it).
// One unit is one image through one training step of the whole network; a step that leaves a
// frozen prefix out of the backward pass costs less: the forward is a third of a full step
// and the backward (activations' and weights' gradients) the other two thirds, run only from
// the head down to the first layer that trains. Validation and test passes are not counted.
#pragma once
#include "aft/train/learner.h"

namespace aft::train {

// Image-steps done so far by every Trainer of this process, each weighted by step_cost().
double training_work();
void add_training_work(double images);

// A step's cost relative to full fine-tuning: (1 + 2 x (1 - p)) / 3, p the fraction of the
// learner's layers (layers(): stem first, head last) in front of the first one with a trainable
// tensor. 1 for a learner with no layer order.
double step_cost(Learner& learner);

}  // namespace aft::train
