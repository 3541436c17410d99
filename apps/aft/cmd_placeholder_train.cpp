// PLACEHOLDER (being written by the lead): methods, pretrain/finetune, eval/predict, demo.
#include "apps/aft/commands.h"
namespace aft::cli {
void add_methods_command(CLI::App&) {}
void add_train_commands(CLI::App&) {}
void add_eval_commands(CLI::App&) {}
void add_demo_command(CLI::App&) {}
}  // namespace aft::cli
