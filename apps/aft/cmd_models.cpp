// PLACEHOLDER (being written by the models helper): aft models, aft forward.
#include "apps/aft/commands.h"
namespace aft::cli {
void add_models_command(CLI::App&) {}
void add_forward_command(CLI::App&) {}
}  // namespace aft::cli
