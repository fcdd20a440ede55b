#include "tests/test_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "proto/common/unique_fd.h"

namespace novadock::testing {
namespace {

constexpr char kBusyboxPath[] = "/bin/busybox";
constexpr char kMissingBusybox[] =
    "/bin/busybox: a static busybox is needed for the test image "
    "(apt-get install busybox-static)";
constexpr const char* kApplets[] = {"sh",   "sleep", "echo", "cat", "ls",
                                    "true", "false", "yes",  "top", "touch"};
constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
constexpr char kGroup[] = "root:x:0:\nnogroup:x:65534:\n";
constexpr time_t kMtime = 1700000000;  // Fixed, for reproducible layers.
constexpr size_t kChunkBytes = 64 * 1024;

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t AppendToString(archive* /*a*/, void* out, const void* data,
                          size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

absl::Status ArchiveError(archive* a, absl::string_view what) {
  return absl::InternalError(absl::StrCat("busybox rootfs tar: ", what, ": ",
                                          archive_error_string(a)));
}

// Writes one header (and `data`, for a regular file given inline).
absl::Status WriteEntry(archive* a, const std::string& path, mode_t type,
                        mode_t perm, int64_t size, const char* symlink,
                        absl::string_view data = {}) {
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), perm);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  archive_entry_set_mtime(e.get(), kMtime, 0);
  archive_entry_set_size(e.get(), size);
  if (symlink != nullptr) archive_entry_set_symlink(e.get(), symlink);
  if (archive_write_header(a, e.get()) != ARCHIVE_OK) {
    return ArchiveError(a, path);
  }
  if (!data.empty() && archive_write_data(a, data.data(), data.size()) !=
                           static_cast<la_ssize_t>(data.size())) {
    return ArchiveError(a, path);
  }
  return absl::OkStatus();
}

// FAILED_PRECONDITION unless `fd` is an ELF file without an interpreter
// (dynamic busybox from the "busybox" package would not run in the image).
absl::Status CheckStaticElf(int fd) {
  Elf64_Ehdr ehdr;
  if (pread(fd, &ehdr, sizeof(ehdr), 0) != sizeof(ehdr) ||
      std::string(reinterpret_cast<const char*>(ehdr.e_ident), SELFMAG) !=
          ELFMAG ||
      ehdr.e_ident[EI_CLASS] != ELFCLASS64) {
    return absl::FailedPreconditionError(
        absl::StrCat(kMissingBusybox, "; it is not a 64-bit ELF file"));
  }
  for (int i = 0; i < ehdr.e_phnum && i < 256; ++i) {
    Elf64_Phdr phdr;
    const off_t at = static_cast<off_t>(ehdr.e_phoff) + i * sizeof(phdr);
    if (pread(fd, &phdr, sizeof(phdr), at) != sizeof(phdr)) break;
    if (phdr.p_type == PT_INTERP) {
      return absl::FailedPreconditionError(
          absl::StrCat(kMissingBusybox, "; it is dynamically linked"));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteBusybox(archive* a) {
  UniqueFd fd(open(kBusyboxPath, O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(kMissingBusybox);
  }
  absl::Status s = CheckStaticElf(fd.get());
  if (!s.ok()) return s;
  s = WriteEntry(a, "bin/busybox", AE_IFREG, 0755, st.st_size, nullptr);
  if (!s.ok()) return s;
  std::string chunk(kChunkBytes, '\0');
  int64_t left = st.st_size;
  for (int i = 0; left > 0 && i < (1 << 20); ++i) {
    const ssize_t n = read(fd.get(), chunk.data(), chunk.size());
    if (n <= 0) {
      return absl::InternalError(
          absl::StrCat(kBusyboxPath, ": short read, ", left, " bytes left"));
    }
    if (archive_write_data(a, chunk.data(), n) != n) {
      return ArchiveError(a, "bin/busybox");
    }
    left -= n;
  }
  return absl::OkStatus();
}

// "repo[:tag]" -> {repo, tag}; INVALID_ARGUMENT unless both are plain names
// (they are put into a URL unescaped).
absl::StatusOr<std::pair<std::string, std::string>> SplitRepoTag(
    absl::string_view repo_tag) {
  const size_t colon = repo_tag.rfind(':');
  const size_t slash = repo_tag.rfind('/');
  std::string repo(repo_tag);
  std::string tag = "latest";
  if (colon != absl::string_view::npos &&
      (slash == absl::string_view::npos || colon > slash)) {
    repo = std::string(repo_tag.substr(0, colon));
    tag = std::string(repo_tag.substr(colon + 1));
  }
  auto plain = [](absl::string_view s, bool upper_ok) {
    if (s.empty() || s.size() > 128) return false;
    for (char c : s) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' ||
            c == '_' || c == '-' || c == '/' ||
            (upper_ok && absl::ascii_isupper(c)))) {
        return false;
      }
    }
    return true;
  };
  if (!plain(repo, false) || !plain(tag, true) ||
      tag.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("image name \"", repo_tag, "\": want repo[:tag] of ",
                     "[a-z0-9._/-] and a tag of [A-Za-z0-9._-]"));
  }
  return std::make_pair(std::move(repo), std::move(tag));
}

}  // namespace

absl::StatusOr<std::string> BuildBusyboxRootfsTar() {
  std::string tar;
  std::unique_ptr<archive, ArchiveWriteFree> a(archive_write_new());
  if (a == nullptr) return absl::InternalError("archive_write_new failed");
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_none(a.get()) != ARCHIVE_OK ||
      archive_write_open(a.get(), &tar, nullptr, AppendToString, nullptr) !=
          ARCHIVE_OK) {
    return ArchiveError(a.get(), "open");
  }
  for (const char* dir : {"bin", "etc", "root"}) {
    absl::Status s = WriteEntry(a.get(), dir, AE_IFDIR, 0755, 0, nullptr);
    if (!s.ok()) return s;
  }
  absl::Status s = WriteEntry(a.get(), "tmp", AE_IFDIR, 01777, 0, nullptr);
  if (!s.ok()) return s;
  s = WriteBusybox(a.get());
  if (!s.ok()) return s;
  for (const char* applet : kApplets) {
    s = WriteEntry(a.get(), absl::StrCat("bin/", applet), AE_IFLNK, 0777, 0,
                   "busybox");
    if (!s.ok()) return s;
  }
  s = WriteEntry(a.get(), "etc/passwd", AE_IFREG, 0644, sizeof(kPasswd) - 1,
                 nullptr, kPasswd);
  if (!s.ok()) return s;
  s = WriteEntry(a.get(), "etc/group", AE_IFREG, 0644, sizeof(kGroup) - 1,
                 nullptr, kGroup);
  if (!s.ok()) return s;
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "close");
  }
  return tar;
}

absl::StatusOr<std::string> ImportBusyboxImage(const DockerdFixture& dockerd,
                                               const std::string& repo_tag) {
  absl::StatusOr<std::pair<std::string, std::string>> name =
      SplitRepoTag(repo_tag);
  if (!name.ok()) return name.status();
  const std::string inspect_path =
      absl::StrCat(kTestApiPrefix, "/images/", repo_tag, "/json");
  absl::StatusOr<RawDockerResponse> existing =
      RawDockerExchange(dockerd.host(), "GET", inspect_path);
  if (!existing.ok()) return existing.status();
  if (existing->http_code == 200) return repo_tag;

  absl::StatusOr<std::string> tar = BuildBusyboxRootfsTar();
  if (!tar.ok()) return tar.status();
  // The answer is a JSON progress stream with HTTP 200 even on failure, so
  // success is judged by inspecting the image afterwards.
  absl::StatusOr<std::string> progress = RawDockerRequest(
      dockerd.host(), "POST",
      absl::StrCat(kTestApiPrefix, "/images/create?fromSrc=-&repo=",
                   name->first, "&tag=", name->second),
      *tar, "application/x-tar");
  if (!progress.ok()) return progress.status();
  absl::StatusOr<RawDockerResponse> imported =
      RawDockerExchange(dockerd.host(), "GET", inspect_path);
  if (!imported.ok()) return imported.status();
  if (imported->http_code != 200) {
    return absl::InternalError(absl::StrCat(
        "import of ", repo_tag, " left no image; dockerd said: ", *progress));
  }
  return repo_tag;
}

}  // namespace novadock::testing
