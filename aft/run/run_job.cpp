// run_job: the one entry of a training job. It checks the spec once and hands it to the consumer
// the method's MethodInfo names: a race of methods (run_auto) or one method (run_method). Kept
// apart from job.cpp so that the race, which builds on the job, is not below it.
#include "aft/methods/registry.h"
#include "aft/run/auto_race.h"
#include "aft/run/job.h"

namespace aft::run {

nlohmann::json run_job(JobSpec& spec) {
  check_job(spec);
  return methods::find_method(spec.method).races_methods ? run_auto(spec) : run_method(spec);
}

}  // namespace aft::run
