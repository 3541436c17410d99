// PLACEHOLDER (being written by the data helper): aft data ...
#include "apps/aft/commands.h"
namespace aft::cli {
void add_data_command(CLI::App&) {}
}  // namespace aft::cli
