// aft export: a finished run's weights as one plain safetensors file. With --merge, LoRA/OFT
// adapters are folded into the base weights, so the file holds exactly the architecture's own
// (torchvision) names and loads anywhere those weights load. Without it the adapters are kept,
// under names that start with the method ("lora.", "oft."), for tools that apply them.
#include <iostream>
#include <set>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/output_dir.h"
#include "aft/methods/adapters.h"
#include "aft/models/safetensors.h"
#include "aft/models/weights.h"
#include "aft/run/job.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

// The metadata key every file aft export writes carries; a file without it is not ours to replace.
constexpr const char* kExportKey = "aft.export";

struct ExportArgs {
  std::string run, out;
  bool merge = false;
};

// aft export replaces only a file it wrote itself, and never writes into a run directory.
void check_out(const ExportArgs& a) {
  check(!path_within(a.out, a.run), "aft export: --out ", a.out, " lies inside the run directory ", a.run,
        "; write the export elsewhere");
  if (!fs::exists(a.out)) return;
  check(!fs::is_directory(a.out), "aft export: --out ", a.out, " is a directory; give a file name");
  bool ours = false;
  try {
    ours = safetensors::read(a.out).metadata.count(kExportKey) > 0;
  } catch (const Error&) {
    ours = false;  // not even safetensors: certainly not an export
  }
  check(ours, "aft export: --out ", a.out, " exists and was not written by aft export; choose another --out");
}

void run_export(const ExportArgs& a) {
  check_out(a);
  auto loaded = run::load_run(a.run, "cpu");
  auto& method = *loaded.method;
  auto* adapters = dynamic_cast<methods::AdapterMethod*>(&method);
  std::string note;
  if (adapters && a.merge) {
    adapters->merge();
    note = "folded " + std::to_string(adapters->adapted().size()) + " " + method.name() + " adapters into the base";
  } else if (adapters) {
    note = "kept " + std::to_string(adapters->adapted().size()) + " " + method.name() + " adapters as " +
           adapters->adapter_prefix() + ".*; --merge gives plain weights";
  }
  auto tensors = models::state_dict(*method.module());
  std::map<std::string, std::string> metadata;
  if (method.builds_own_model()) {
    check(!a.merge, "aft export --merge: ", a.run, " (method ", method.name(),
          ") holds its own network of several models; it has no single architecture's plain weights");
    metadata = method.own_model_metadata();
  } else {
    metadata = models::model_metadata(*method.model());
  }
  if (a.merge) {
    if (adapters) {
      for (auto it = tensors.begin(); it != tensors.end();) {
        it = it->first.rfind(adapters->adapter_prefix() + ".", 0) == 0 ? tensors.erase(it) : std::next(it);
      }
    }
    // Plain means exactly the names a fresh model of this architecture has.
    const auto plain = models::state_dict(*models::build_model(method.model()->config()));
    for (const auto& [name, t] : tensors) {
      check(plain.count(name) > 0, "aft export --merge: ", a.run, " (method ", method.name(), ") holds ", name,
            ", which ", method.model()->config().arch, " has not; its weights have no plain form");
    }
  }
  metadata[kExportKey] = a.merge ? "merged" : (adapters ? "adapters" : "plain");
  metadata["aft.method"] = method.name();
  safetensors::write(a.out, tensors, metadata);
  std::cout << "export: " << a.out << " (" << tensors.size() << " tensors" << (note.empty() ? "" : "; " + note) << ")"
            << std::endl;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* sub = app.add_subcommand("export", "write a finished run's weights as plain safetensors");
  sub->add_option("--run", a->run, "finished run directory")->required();
  sub->add_option("--out", a->out, "safetensors file to write (replaces only a file aft export wrote)")->required();
  sub->add_flag("--merge", a->merge,
                "fold LoRA/OFT adapters into the base weights: exactly the architecture's (torchvision) names");
  sub->callback([a]() { run_export(*a); });
}

}  // namespace aft::cli
