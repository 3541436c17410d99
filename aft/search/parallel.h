// Parallel search on a process group: the evaluations of one batch (one synchronous PSO
// iteration) are dealt to the ranks, evaluation k to rank k % world, each rank training its
// share with the full data on its own device; fitness values and learning curves are then
// exchanged so that every rank updates the same swarm. The history equals a one-process
// run of the same PsoOrder::synchronous search, whatever the number of processes.
#pragma once
#include <memory>
#include <string>

#include "aft/search/pso.h"

namespace aft::dist {
class Group;
}

namespace aft::search {

// A batch fitness for Pso::run_batched that spreads `fitness` over `group`'s ranks (no group,
// or a group of one: the evaluations run here, in order). Collective: every rank must call it
// with the same batch. An evaluation that throws on one rank fails the batch on every rank.
BatchFitnessFn spread_over_ranks(std::shared_ptr<dist::Group> group, FitnessFn fitness);

// --pso-order: "sequential" (the reference's order), "synchronous" (parallelisable), or
// "auto": synchronous when a group of several processes is present, else sequential.
PsoOrder resolve_pso_order(const std::string& flag, const dist::Group* group);

}  // namespace aft::search
