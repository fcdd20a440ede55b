// The commands of novadock-glance-loader, apart from its main so they can be
// tested: list, verify, load, fetch and prune over an image directory and a
// dockerd. Output goes to the streams given; nothing is printed elsewhere.
//
// Every command returns OK or the error to report as the CLI's one-line
// reason (main prints "novadock-glance-loader: <message>" and exits 1).
// Not thread-safe: one command at a time.
#ifndef NOVADOCK_GLANCE_LOADER_LOADER_CLI_H_
#define NOVADOCK_GLANCE_LOADER_LOADER_CLI_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "agent/docker_api.h"
#include "glance-loader/glance_fetcher.h"
#include "glance-loader/image_index.h"
#include "glance-loader/image_loader.h"

namespace novadock::loader {

struct CliContext {
  std::string image_dir;
  agent::DockerApi* docker = nullptr;  // Required by load and prune.
  ImageIndex* index = nullptr;         // Required.
  ImageLoader* loader = nullptr;       // Required by load.
  GlanceFetcher* fetcher = nullptr;    // Null: fetch is off.
  std::string token;                   // Keystone token; never printed.
  std::ostream* out = nullptr;         // Results.
  std::ostream* progress = nullptr;    // Progress lines or bar.
  bool progress_bar = false;           // A terminal: redraw one line.
};

// Every archive of the directory: file, Glance id, tags, image id, size,
// and "ok" or the reason it is refused.
[[nodiscard]] absl::Status CliList(const CliContext& ctx);
// Inspects FILE; with a Glance checksum (md5) and/or os_hash, checks them.
[[nodiscard]] absl::Status CliVerify(const CliContext& ctx,
                                     const std::string& file,
                                     const ImageRequest& expected);
// Loads FILE (a path) or the image of Glance id ID (resolved as the agent
// does: Docker, then the directory, then Glance when fetch is on).
[[nodiscard]] absl::Status CliLoad(const CliContext& ctx,
                                   const std::string& file_or_id);
// Downloads Glance image ID into the directory (verified, atomic).
[[nodiscard]] absl::Status CliFetch(const CliContext& ctx,
                                    const std::string& id);
// Removes the archives, and the novadock/glance:<id> images, that no
// instance container (any container with the Nova instance label) uses.
// With dry_run, only says what it would remove.
[[nodiscard]] absl::Status CliPrune(const CliContext& ctx, bool dry_run);

// "[#####     ]  50% 150.0/300.0 MiB" on a terminal; "loaded 50%" lines at
// each 10% otherwise.
ProgressFn MakeProgress(std::ostream& out, bool bar);

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_LOADER_CLI_H_
