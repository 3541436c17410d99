// PLACEHOLDER until the demo lands.
#include "apps/aft/commands.h"
namespace aft::cli {
void add_demo_command(CLI::App&) {}
}  // namespace aft::cli
