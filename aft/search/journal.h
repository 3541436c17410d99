// A search's progress on disk, so that a killed search resumes where it stopped. The file is
// JSON lines: a header naming the search (its dimensions and settings), then one line per
// finished batch of evaluations. A batch is one line, so a kill leaves whole batches or a
// torn last line, which is dropped on open. Searches are seeded, so replaying the recorded
// fitness values re-derives every later position exactly.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace aft::search {

class SearchJournal {
 public:
  // Opens (or starts) the journal at `path`. An existing journal must carry `identity`, or the
  // search is refused with one line. Only a `writer` appends (rank 0 of a process group).
  SearchJournal(std::string path, nlohmann::json identity, bool writer);
  size_t batches() const { return batches_.size(); }
  const nlohmann::json& batch(size_t index) const { return batches_.at(index); }
  void append(const nlohmann::json& batch);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool writer_;
  std::vector<nlohmann::json> batches_;
};

}  // namespace aft::search
