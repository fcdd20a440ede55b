// ArchiveWriter: writes one archive into the node's image directory so that
// readers never see it partial. Bytes go to a temp file "<dir>/.<stem>.XXXXXX"
// (the index skips names starting with ".") while their sha256 is computed;
// Finish() fsyncs it; Install() renames it to "<dir>/<file_name>" and writes
// the "<file_name>.sha256" sidecar. Destroyed before Install(), it removes
// the temp file: a failure leaves nothing behind.
//
// Not thread-safe: one thread writes an archive. Owns its fd.
#ifndef NOVADOCK_AGENT_ARCHIVE_WRITER_H_
#define NOVADOCK_AGENT_ARCHIVE_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "glance-loader/hashing.h"

namespace novadock::agent {

class ArchiveWriter {
 public:
  // Creates the temp file "<dir>/.<stem>.XXXXXX". INTERNAL (with errno's
  // text): it cannot be created. REQUIRES: `stem` has no "/".
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ArchiveWriter>> Create(
      const std::string& dir, absl::string_view stem);
  ~ArchiveWriter();
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  // Appends `data`. INTERNAL: a write failed (e.g. the disk is full).
  [[nodiscard]] absl::Status Append(absl::string_view data);
  // Fsyncs and closes the temp file; returns the hex sha256 of the data.
  // Call once. INTERNAL: fsync or close failed.
  [[nodiscard]] absl::StatusOr<std::string> Finish();
  // Renames the temp file to "<dir>/<file_name>" (replacing one there),
  // writes its sidecar and fsyncs the directory. REQUIRES: Finish() was OK.
  [[nodiscard]] absl::Status Install(const std::string& file_name);

  const std::string& temp_path() const { return path_; }
  int64_t size_bytes() const { return size_bytes_; }

 private:
  ArchiveWriter(std::string dir, std::string path, int fd);

  const std::string dir_;
  const std::string path_;  // The temp file.
  int fd_;                  // -1 after Finish().
  loader::StreamingHasher hasher_{loader::HashAlgorithm::kSha256};
  std::string sha256_;  // Set by Finish().
  int64_t size_bytes_ = 0;
  bool installed_ = false;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_ARCHIVE_WRITER_H_
