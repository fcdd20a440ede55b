#include "agent/config_drive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "proto/common/status_macros.h"
#include "proto/common/unique_fd.h"

namespace novadock::agent {
namespace {

namespace fs = std::filesystem;

absl::Status Internal(absl::string_view what, const std::string& path,
                      const std::error_code& error) {
  return absl::InternalError(
      absl::StrCat("config drive: ", what, " ", path, ": ", error.message()));
}

absl::Status WriteFileFully(const std::string& path, const std::string& bytes) {
  UniqueFd fd(
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    return Internal("cannot create", path,
                    std::error_code(errno, std::generic_category()));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Internal("cannot write", path,
                      std::error_code(errno, std::generic_category()));
    }
    done += static_cast<size_t>(n);
  }
  // The umask must not narrow what the container's user may read.
  if (fchmod(fd.get(), 0644) != 0) {
    return Internal("cannot chmod", path,
                    std::error_code(errno, std::generic_category()));
  }
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& path, fs::perms perms) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) return Internal("cannot create directory", path, error);
  fs::permissions(path, perms, fs::perm_options::replace, error);
  if (error) return Internal("cannot chmod", path, error);
  return absl::OkStatus();
}

constexpr fs::perms kPublicDir =
    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
    fs::perms::others_read | fs::perms::others_exec;

}  // namespace

std::string ConfigDriveStore::PathFor(const std::string& uuid) const {
  return absl::StrCat(root_, "/", uuid);
}

absl::StatusOr<std::string> ConfigDriveStore::Write(
    const std::string& uuid, const std::map<std::string, std::string>& files) {
  NOVADOCK_RETURN_IF_ERROR(MakeDir(root_, fs::perms::owner_all));
  static std::atomic<uint64_t> counter{0};
  const std::string staging =
      absl::StrCat(root_, "/.", uuid, ".new-", getpid(), "-", ++counter);
  const std::string final_path = PathFor(uuid);
  auto write_all = [&]() -> absl::Status {
    NOVADOCK_RETURN_IF_ERROR(MakeDir(staging, kPublicDir));
    for (const auto& [relative, bytes] : files) {
      const fs::path path = fs::path(staging) / relative;
      NOVADOCK_RETURN_IF_ERROR(
          MakeDir(path.parent_path().string(), kPublicDir));
      NOVADOCK_RETURN_IF_ERROR(WriteFileFully(path.string(), bytes));
    }
    // A leftover from an earlier attempt is replaced.
    NOVADOCK_RETURN_IF_ERROR(Remove(uuid));
    std::error_code error;
    fs::rename(staging, final_path, error);
    if (error) return Internal("cannot rename into", final_path, error);
    return absl::OkStatus();
  };
  absl::Status written = write_all();
  if (!written.ok()) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    return written;
  }
  return final_path;
}

absl::Status ConfigDriveStore::Remove(const std::string& uuid) {
  std::error_code error;
  fs::remove_all(PathFor(uuid), error);
  if (error && error != std::errc::no_such_file_or_directory) {
    return Internal("cannot remove", PathFor(uuid), error);
  }
  return absl::OkStatus();
}

}  // namespace novadock::agent
