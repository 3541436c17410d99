// aft data fashion-mnist | glyphs | split | info | bench: prepare, inspect and time data
// (the transfer suite's targets are in cmd_data_targets.cpp).
// Each callback validates its options, calls the library, and prints a short summary.
#include <chrono>
#include <iostream>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/parse.h"
#include "aft/data/folder_tools.h"
#include "aft/data/font_render.h"
#include "aft/data/generators.h"
#include "aft/data/loader.h"
#include "aft/data/splits.h"
#include "aft/data/transforms.h"
#include "aft/train/train_options.h"
#include "apps/aft/cli_options.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void print_summary(const std::string& out, const data::GeneratedSummary& s) {
  std::cout << "wrote " << out << ": " << s.classes.size() << " classes, " << s.train << " train, " << s.test
            << " test images" << std::endl;
  if (!s.test_sources.empty()) {
    std::cout << "test fonts:";
    for (const auto& f : s.test_sources) std::cout << " " << f;
    std::cout << std::endl;
  }
}

void add_fashion_mnist(CLI::App& data) {
  auto o = std::make_shared<data::FashionMnistExportOptions>();
  auto classes = std::make_shared<std::string>();
  auto* cmd = data.add_subcommand("fashion-mnist", "write Fashion-MNIST (Debian's dataset-fashion-mnist) as a PNG image folder");
  cmd->add_option("--out", o->out, "output folder (written as OUT.tmp.PID, then renamed)")->required();
  cmd->add_option("--classes", *classes, "comma-separated class numbers 0-9 (empty: all)");
  cmd->add_option("--per-class", o->per_class, "training images per class, first in file order (0: all)")->capture_default_str();
  cmd->add_option("--test-per-class", o->test_per_class, "test images per class (0: all)")->capture_default_str();
  cmd->add_option("--size", o->size, "output image side in pixels")->capture_default_str();
  cmd->add_option("--source", o->source_dir, "folder with the IDX .gz files (default /usr/share/datasets/fashion-mnist)");
  cmd->add_flag("--overwrite", o->overwrite, "replace OUT if it exists");
  cmd->callback([o, classes] {
    for (const auto& c : split_list(*classes)) {
      const auto index = parse_integer(c);
      check(index.has_value(), "--classes: '", c, "' is not a whole number");
      o->classes.push_back(*index);
    }
    print_summary(o->out, data::export_fashion_mnist(*o));
  });
}

void add_glyphs(CLI::App& data) {
  auto o = std::make_shared<data::GlyphOptions>();
  auto fonts = std::make_shared<std::string>("auto");
  auto* cmd = data.add_subcommand("glyphs", "render printed characters with FreeType; train/test split by font");
  cmd->add_option("--out", o->out, "output folder (written as OUT.tmp.PID, then renamed)")->required();
  cmd->add_option("--chars", o->chars, "characters (UTF-8, any script), one class each; a font lacking one is skipped for it")->capture_default_str();
  cmd->add_option("--fonts", *fonts, "comma-separated font files, folders or globs (e.g. '/usr/share/fonts/truetype/noto/NotoS*Georgian-*.ttf'), or 'auto' (Debian's DejaVu, Liberation, FreeFont, Noto Mono)")->capture_default_str();
  cmd->add_option("--test-fonts", o->test_fonts, "fonts held out for test (seeded choice); 0: 4, at most half the fonts")->capture_default_str();
  cmd->add_option("--size", o->size, "image side in pixels")->capture_default_str();
  cmd->add_option("--per-font", o->per_font, "jittered samples per font and character")->capture_default_str();
  cmd->add_option("--per-class", o->per_class, "training images per class, a seeded choice of the training fonts' renders (0: all)")->capture_default_str();
  cmd->add_option("--test-per-class", o->test_per_class, "test images per class, a seeded choice of the test fonts' renders (0: all)")->capture_default_str();
  cmd->add_option("--jitter", o->jitter, "rotation (rad), relative scale and shift amplitude")->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->add_flag("--overwrite", o->overwrite, "replace OUT if it exists");
  cmd->callback([o, fonts] {
    if (*fonts != "auto") o->fonts = data::split_font_specs(*fonts);
    print_summary(o->out, data::write_glyphs(*o));
  });
}

void add_split(CLI::App& data) {
  struct Args {
    std::string data, out;
    double val_fraction = 0.2;
    uint64_t seed = 0;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = data.add_subcommand("split", "materialise a stratified train/val split as folders (hard links)");
  cmd->add_option("--data", a->data, "image-folder root")->required();
  cmd->add_option("--out", a->out, "output root (train/, val/, test/)")->required();
  cmd->add_option("--val-fraction", a->val_fraction, "fraction of each class held out")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_flag("--overwrite", a->overwrite, "replace OUT if it exists");
  cmd->callback([a] {
    data::materialise_split(a->data, a->out, a->val_fraction, a->seed, a->overwrite);
    std::cout << "wrote " << a->out << std::endl;
  });
}

void add_info(CLI::App& data) {
  auto root = std::make_shared<std::string>();
  auto* cmd = data.add_subcommand("info", "classes, images per split and class, image sizes (JSON)");
  cmd->add_option("root", *root, "data root (folder, fashion-mnist, decathlon:...)")->required();
  cmd->callback([root] { std::cout << data::data_info(*root).dump(2) << std::endl; });
}

void add_bench(CLI::App& data) {
  struct Args {
    std::string root, preset = "imagenet224";
    train::RuntimeOptions runtime;
    std::unique_ptr<FlagBinder> runtime_flags;
    int64_t batch_size = 64;
    double seconds = 10;
    bool cache = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = data.add_subcommand("bench", "images/s of the training loader (decode + augment + batch)");
  cmd->add_option("root", a->root, "data root")->required();
  a->runtime_flags = std::make_unique<FlagBinder>(*cmd, "Runtime");
  a->runtime.visit(*a->runtime_flags);  // --workers: the loader threads measured
  cmd->add_option("--preset", a->preset, "transform preset (training variant)")->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "batch size")->capture_default_str();
  cmd->add_option("--seconds", a->seconds, "measure for about this long")->capture_default_str();
  cmd->add_flag("--cache", a->cache, "keep decoded images in memory (off: decode every epoch)");
  cmd->callback([a] {
    a->runtime.apply();
    data::DataOptions options;
    options.root = a->root;
    options.val_fraction = 0;
    options.cache = a->cache;
    const data::Splits s = data::open_splits(options);
    data::LoaderOptions lo;
    lo.batch_size = a->batch_size;
    lo.shuffle = true;
    lo.threads = static_cast<int>(a->runtime.workers);
    data::Loader loader(s.train, s.train_indices, data::make_preset(a->preset, true), lo);
    // Steady-state rate: the clock starts at the first batch, so thread start-up and the
    // first prefetch are excluded (the torchvision script measures the same way).
    using Clock = std::chrono::steady_clock;
    Clock::time_point start;
    int64_t images = 0, batches = 0;
    bool started = false;
    double elapsed = 0;
    for (int64_t epoch = 0; !started || elapsed < a->seconds; ++epoch) {
      loader.start_epoch(epoch);
      data::Batch batch;
      while (loader.next(batch)) {
        if (!started) {
          started = true;
          start = Clock::now();
          continue;
        }
        images += batch.images.size(0);
        ++batches;
        elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        if (elapsed >= a->seconds) break;
      }
      check(started, a->root, ": the loader produced no batch");
    }
    std::cout << "images_per_second " << images / std::max(elapsed, 1e-9) << " (" << images << " images, "
              << batches << " batches, " << elapsed << " s, workers " << a->runtime.workers << ", preset " << a->preset
              << ")" << std::endl;
  });
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto* data = app.add_subcommand(
      "data", "prepare and inspect data: fashion-mnist, glyphs, mnist, opencv-digits, lfw-faces, chars, split, info, bench");
  data->require_subcommand(1);
  add_fashion_mnist(*data);
  add_glyphs(*data);
  add_data_target_commands(*data);
  add_split(*data);
  add_info(*data);
  add_bench(*data);
}

}  // namespace aft::cli
