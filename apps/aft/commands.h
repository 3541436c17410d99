// Each subcommand lives in its own cmd_*.cpp and registers itself on the CLI11 app.
// Callbacks throw aft::Error on bad input; main() prints one line and exits non-zero.
#pragma once
#include <CLI/CLI.hpp>

namespace aft::cli {

void add_models_command(CLI::App& app);     // aft models
void add_methods_command(CLI::App& app);    // aft methods
void add_forward_command(CLI::App& app);    // aft forward
void add_data_command(CLI::App& app);       // aft data ...
void add_train_commands(CLI::App& app);     // aft pretrain / finetune
void add_eval_commands(CLI::App& app);      // aft eval / predict
void add_demo_command(CLI::App& app);       // aft demo

}  // namespace aft::cli
