// The baselines every adaptive method is compared against (docs/baselines.md):
// full fine-tuning, linear probe, L2-SP and Auto-RGN. One .cpp each.
#pragma once
#include "aft/methods/registry.h"

namespace aft::methods {

MethodInfo full_method();
MethodInfo linear_method();
MethodInfo l2sp_method();
MethodInfo auto_rgn_method();

// Options for methods that have none, so `--method NAME --help` still works uniformly.
struct NoOptions : Options {
  void visit(OptionVisitor&) override {}
};

}  // namespace aft::methods
