// aft: fine-tune pretrained vision models and decide what to fine-tune.
#include <c10/util/Exception.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/memory.h"
#include "aft/core/version.h"
#include "apps/aft/commands.h"

int main(int argc, char** argv) {
  std::string allocator;
  try {
    allocator = aft::keep_freed_memory();
  } catch (const aft::Error& e) {
    std::cerr << "aft: error: " << e.what() << std::endl;
    return 1;
  }
  CLI::App app{"aft: adaptive fine-tuning of pretrained vision models (ResNet, ViT)"};
  app.require_subcommand(0, 1);
  app.fallthrough();
  bool show_version = false;
  app.add_flag("--version", show_version, "print aft, LibTorch, CUDA and BLAS versions");
  aft::cli::add_models_command(app);
  aft::cli::add_methods_command(app);
  aft::cli::add_forward_command(app);
  aft::cli::add_data_command(app);
  aft::cli::add_train_commands(app, aft::cli::method_from_argv(argc, argv));
  aft::cli::add_eval_commands(app);
  aft::cli::add_demo_command(app);
  aft::cli::add_soup_command(app);
  aft::cli::add_decathlon_command(app);
  aft::cli::add_report_command(app);
  aft::cli::add_rank_command(app);
  aft::cli::add_export_command(app);
  try {
    app.parse(argc, argv);
    if (show_version) {
      aft::set_threads(0);
      std::cout << aft::version_report() << "\nmalloc " << allocator << std::endl;
    } else if (app.get_subcommands().empty()) {
      std::cout << app.help() << std::endl;
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const aft::Error& e) {
    std::cerr << "aft: error: " << e.what() << std::endl;
    return 1;
  } catch (const c10::Error& e) {
    // LibTorch messages carry a C++ backtrace after the first line; users need only the first.
    std::string message = e.what_without_backtrace();
    std::cerr << "aft: error: " << message.substr(0, message.find('\n')) << std::endl;
    return 1;
  } catch (const nlohmann::json::exception& e) {
    // A JSON file of the wrong shape (a hand-edited config or state): name the JSON problem.
    std::cerr << "aft: error: unexpected JSON content: " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "aft: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
