#include "aft/methods/registry.h"

#include "aft/core/error.h"
#include "aft/methods/auto_options.h"
#include "aft/methods/baselines.h"
#include "aft/methods/bss.h"
#include "aft/methods/contribution.h"
#include "aft/methods/delta.h"
#include "aft/methods/lora.h"
#include "aft/methods/lp_ft.h"
#include "aft/methods/multisource.h"
#include "aft/methods/oft.h"
#include "aft/methods/spottune.h"
#include "aft/methods/partial.h"

namespace aft::methods {

const std::vector<MethodInfo>& registry() {
  static const std::vector<MethodInfo> methods = {full_method(),       linear_method(),       lp_ft_method(),
                                                  l2sp_method(),       auto_rgn_method(),     partial_method(),
                                                  spottune_method(),   contribution_method(), multisource_method(),
                                                  delta_method(),      bss_method(),          lora_method(),
                                                  oft_method(),        auto_method()};
  return methods;
}

const MethodInfo& find_method(const std::string& name) {
  std::string names;
  for (const auto& m : registry()) {
    if (m.name == name) return m;
    names += (names.empty() ? "" : "|") + m.name;
  }
  fail("--method ", name, ": unknown method; expected one of ", names);
}

}  // namespace aft::methods
