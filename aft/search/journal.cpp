#include "aft/search/journal.h"

#include <filesystem>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace aft::search {

SearchJournal::SearchJournal(std::string path, nlohmann::json identity, bool writer)
    : path_(std::move(path)), writer_(writer) {
  const nlohmann::json header = {{"search", identity}};
  if (fs::exists(path_)) {
    std::istringstream lines(fs::read_file(path_));
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        break;  // a line torn by a kill: it and anything after it are not trusted
      }
      if (first) {
        check(j == header, path_, ": this search journal was written by another search (",
              j.value("search", nlohmann::json()).dump(), "); use a new --out or --overwrite");
        first = false;
        continue;
      }
      check(j.is_array(), path_, ": line ", batches_.size() + 2, " is not a batch of evaluations");
      batches_.push_back(std::move(j));
    }
    if (!first) {
      // Rewrite without a torn tail, so later appends start on a clean line.
      if (writer_) {
        std::string clean = header.dump() + "\n";
        for (const auto& b : batches_) clean += b.dump() + "\n";
        fs::write_file_atomic(path_, clean);
      }
      return;
    }
  }
  if (writer_) {
    fs::create_directories(std::filesystem::path(path_).parent_path().string());
    fs::write_file_atomic(path_, header.dump() + "\n");
  }
}

void SearchJournal::append(const nlohmann::json& batch) {
  batches_.push_back(batch);
  if (writer_) fs::append_line(path_, batch.dump());
}

}  // namespace aft::search
