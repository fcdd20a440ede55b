#include "glance-loader/loader_cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "agent/container_labels.h"
#include "glance-loader/hashing.h"
#include "proto/common/status_macros.h"

namespace novadock::loader {
namespace {

std::string Mib(int64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Image ids used by any Nova instance container on this dockerd.
absl::StatusOr<std::set<std::string>> ImagesInUse(agent::DockerApi& docker) {
  NOVADOCK_ASSIGN_OR_RETURN(
      std::vector<agent::ContainerSummary> containers,
      docker.ListContainers({{"label", {agent::kLabelInstanceUuid}}}));
  std::set<std::string> used;
  for (const agent::ContainerSummary& c : containers) used.insert(c.image);
  // Containers name their image as created: by id ("sha256:...") when made
  // by the agent. Resolve other names to ids too.
  std::set<std::string> ids;
  for (const std::string& ref : used) {
    if (absl::StartsWith(ref, "sha256:")) {
      ids.insert(ref);
      continue;
    }
    auto image = docker.InspectImage(ref);
    if (image.ok()) ids.insert(image->id);
  }
  return ids;
}

}  // namespace

ProgressFn MakeProgress(std::ostream& out, bool bar) {
  auto last_decile = std::make_shared<int>(-1);
  return [&out, bar, last_decile](int64_t done, int64_t total) {
    const int percent = total > 0 ? static_cast<int>(done * 100 / total) : 100;
    if (bar) {
      const int filled = percent / 5;
      out << "\r[" << std::string(filled, '#') << std::string(20 - filled, ' ')
          << "] " << absl::StrFormat("%3d%% ", percent) << Mib(done) << "/"
          << Mib(total) << (done >= total ? "\n" : "") << std::flush;
      return;
    }
    if (percent / 10 != *last_decile) {
      *last_decile = percent / 10;
      out << "loaded " << percent << "% (" << Mib(done) << " of " << Mib(total)
          << ")\n";
    }
  };
}

absl::Status CliList(const CliContext& ctx) {
  NOVADOCK_RETURN_IF_ERROR(ctx.index->Refresh());
  std::ostream& out = *ctx.out;
  for (const IndexedArchive& a : ctx.index->List()) {
    if (!a.status.ok()) {
      out << a.file_name << "\tREFUSED\t" << a.status.message() << "\n";
      continue;
    }
    out << a.file_name << "\t" << absl::StrJoin(a.info.repo_tags, ",") << "\t"
        << a.info.image_id.substr(0, 19) << "\t" << Mib(a.info.file_size_bytes)
        << "\t" << (a.has_sidecar ? "sha256 ok" : "no sidecar") << "\n";
  }
  return absl::OkStatus();
}

absl::Status CliVerify(const CliContext& ctx, const std::string& file,
                       const ImageRequest& expected) {
  InspectOptions options;
  options.extra_digests = {HashAlgorithm::kMd5};
  HashAlgorithm os_hash = HashAlgorithm::kSha512;
  if (!expected.os_hash_algo.empty()) {
    NOVADOCK_ASSIGN_OR_RETURN(os_hash,
                              ParseHashAlgorithm(expected.os_hash_algo));
    options.extra_digests.push_back(os_hash);
  }
  NOVADOCK_ASSIGN_OR_RETURN(ArchiveInfo info, InspectFile(file, options));
  if (!expected.checksum.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        VerifyDigest(info, HashAlgorithm::kMd5, expected.checksum));
  }
  if (!expected.os_hash_algo.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        VerifyDigest(info, os_hash, expected.os_hash_value));
  }
  *ctx.out << file << ": ok: " << ArchiveFormatName(info.format) << " image "
           << info.image_id << " tags [" << absl::StrJoin(info.repo_tags, ", ")
           << "], " << info.layers.size() << " layers, "
           << Mib(info.file_size_bytes) << ", sha256 " << info.sha256_hex
           << "\n";
  return absl::OkStatus();
}

absl::Status CliLoad(const CliContext& ctx, const std::string& file_or_id) {
  ProgressFn progress = MakeProgress(*ctx.progress, ctx.progress_bar);
  LoadedImage loaded;
  if (IsRegularFile(file_or_id)) {
    ImageRequest request;  // "<glance id>.tar" is tagged for that id.
    const size_t slash = file_or_id.rfind('/');
    request.glance_id = GlanceIdFromFileName(
        slash == std::string::npos ? file_or_id : file_or_id.substr(slash + 1));
    NOVADOCK_ASSIGN_OR_RETURN(
        loaded, ctx.loader->LoadFile(file_or_id, request, progress));
  } else {
    ImageRequest request;
    request.glance_id = file_or_id;
    request.auth_token = ctx.token;
    NOVADOCK_ASSIGN_OR_RETURN(loaded, ctx.loader->Resolve(request));
  }
  *ctx.out << "loaded " << loaded.image_id << " ["
           << absl::StrJoin(loaded.repo_tags, ", ") << "]"
           << (loaded.bytes == 0 ? " (already in Docker)" : "") << "\n";
  return absl::OkStatus();
}

absl::Status CliFetch(const CliContext& ctx, const std::string& id) {
  if (ctx.fetcher == nullptr) {
    return absl::FailedPreconditionError(
        "fetch needs --glance_endpoint (Glance download is off)");
  }
  NOVADOCK_ASSIGN_OR_RETURN(std::string path,
                            ctx.fetcher->Fetch(id, ctx.token));
  *ctx.out << "fetched " << id << " into " << path << "\n";
  return absl::OkStatus();
}

absl::Status CliPrune(const CliContext& ctx, bool dry_run) {
  NOVADOCK_ASSIGN_OR_RETURN(std::set<std::string> used,
                            ImagesInUse(*ctx.docker));
  NOVADOCK_RETURN_IF_ERROR(ctx.index->Refresh());
  const char* verb = dry_run ? "would remove " : "removed ";
  for (const IndexedArchive& a : ctx.index->List()) {
    if (a.status.ok() && used.count(a.info.image_id) > 0) continue;
    if (!dry_run) {
      if (unlink(a.path.c_str()) != 0 && errno != ENOENT) {
        return absl::InternalError(
            absl::StrCat("remove ", a.path, ": ", std::strerror(errno)));
      }
      unlink((a.path + ".sha256").c_str());
    }
    *ctx.out << verb << "archive " << a.path << "\n";
  }
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<agent::ImageDetails> images,
                            ctx.docker->ListImages());
  const std::string prefix = absl::StrCat(kGlanceImageRepo, ":");
  for (const agent::ImageDetails& image : images) {
    if (used.count(image.id) > 0) continue;
    for (const std::string& tag : image.repo_tags) {
      if (!absl::StartsWith(tag, prefix)) continue;
      if (!dry_run) {
        NOVADOCK_RETURN_IF_ERROR(ctx.docker->RemoveImage(tag, false));
      }
      *ctx.out << verb << "image " << tag << " (" << image.id << ")\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace novadock::loader
