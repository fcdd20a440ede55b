#include "agent/archive_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/common/status_macros.h"

namespace novadock::agent {
namespace {

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Writes all of `data` to `fd`.
absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(absl::StrCat("write ", path));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes `text` to "<dir>/<name>" through a temp file and a rename.
absl::Status WriteFileAtomically(const std::string& dir,
                                 const std::string& name,
                                 absl::string_view text) {
  std::string tmp = absl::StrCat(dir, "/.", name, ".XXXXXX");
  const int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError(absl::StrCat("create a temp file in ", dir));
  absl::Status s = WriteAll(fd, text, tmp);
  if (s.ok() && fsync(fd) != 0) s = ErrnoError(absl::StrCat("sync ", tmp));
  if (close(fd) != 0 && s.ok()) s = ErrnoError(absl::StrCat("close ", tmp));
  const std::string target = absl::StrCat(dir, "/", name);
  if (s.ok() && std::rename(tmp.c_str(), target.c_str()) != 0) {
    s = ErrnoError(absl::StrCat("rename ", tmp, " to ", target));
  }
  if (!s.ok()) unlink(tmp.c_str());
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ArchiveWriter>> ArchiveWriter::Create(
    const std::string& dir, absl::string_view stem) {
  std::string path = absl::StrCat(dir, "/.", stem, ".XXXXXX");
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError(absl::StrCat("create a temp file in ", dir));
  return std::unique_ptr<ArchiveWriter>(
      new ArchiveWriter(dir, std::move(path), fd));
}

ArchiveWriter::ArchiveWriter(std::string dir, std::string path, int fd)
    : dir_(std::move(dir)), path_(std::move(path)), fd_(fd) {}

ArchiveWriter::~ArchiveWriter() {
  if (fd_ >= 0) close(fd_);
  if (!installed_) unlink(path_.c_str());
}

absl::Status ArchiveWriter::Append(absl::string_view data) {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("append to ", path_, " after Finish()"));
  }
  hasher_.Update(data);
  NOVADOCK_RETURN_IF_ERROR(WriteAll(fd_, data, path_));
  size_bytes_ += static_cast<int64_t>(data.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> ArchiveWriter::Finish() {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("Finish() of ", path_, " twice"));
  }
  const int fd = fd_;
  fd_ = -1;
  const bool synced = fsync(fd) == 0;
  if (close(fd) != 0 || !synced) return ErrnoError("sync " + path_);
  NOVADOCK_ASSIGN_OR_RETURN(sha256_, hasher_.Finish());
  return sha256_;
}

absl::Status ArchiveWriter::Install(const std::string& file_name) {
  if (sha256_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("Install() of ", path_, " before Finish()"));
  }
  const std::string target = absl::StrCat(dir_, "/", file_name);
  if (std::rename(path_.c_str(), target.c_str()) != 0) {
    return ErrnoError(absl::StrCat("rename ", path_, " to ", target));
  }
  installed_ = true;
  NOVADOCK_RETURN_IF_ERROR(
      WriteFileAtomically(dir_, absl::StrCat(file_name, ".sha256"),
                          absl::StrCat(sha256_, "  ", file_name, "\n")));
  // The renames are durable once the directory is.
  const int dir_fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoError(absl::StrCat("open ", dir_));
  const bool synced = fsync(dir_fd) == 0;
  close(dir_fd);
  if (!synced) return ErrnoError(absl::StrCat("sync ", dir_));
  return absl::OkStatus();
}

}  // namespace novadock::agent
