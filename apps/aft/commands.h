// Each subcommand lives in its own cmd_*.cpp and registers itself on the CLI11 app.
// Callbacks throw aft::Error on bad input; main() prints one line and exits non-zero.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace aft::cli {

void add_models_command(CLI::App& app);     // aft models
void add_methods_command(CLI::App& app);    // aft methods
void add_forward_command(CLI::App& app);    // aft forward
void add_data_command(CLI::App& app);       // aft data ...
void add_data_target_commands(CLI::App& data);  // aft data mnist|opencv-digits|lfw-faces|chars
// method_hint: the --method value found in argv, so its options can be registered.
void add_train_commands(CLI::App& app, const std::string& method_hint);  // aft pretrain / finetune
void add_eval_commands(CLI::App& app);      // aft eval / predict
// The --method value in argv, scanned before parsing; with --resume RUN and no --method, RUN's own
// method (from its config.json); else "full".
std::string method_from_argv(int argc, char** argv);
void add_demo_command(CLI::App& app);       // aft demo
void add_soup_command(CLI::App& app);       // aft soup
void add_decathlon_command(CLI::App& app);  // aft decathlon-score
void add_report_command(CLI::App& app);     // aft report
void add_rank_command(CLI::App& app);       // aft rank
void add_export_command(CLI::App& app);     // aft export

}  // namespace aft::cli
