// The Docker Engine API wire codec: request bodies built from typed structs,
// responses parsed into them, and the two stream framings (log frames and
// newline-delimited event JSON). No IO; all functions are pure and
// thread-safe, the stream decoders are not (one per stream).
//
// Every parser checks each JSON value's type before reading it. A malformed
// response is INTERNAL, naming the response and the field ("docker container
// inspect response: State.Pid is not an integer"). Fields Docker omits or sets
// to null keep their defaults (a stopped container's stats have no
// memory_stats); only the fields that identify a thing (Id) are required.
#ifndef NOVADOCK_AGENT_DOCKER_JSON_H_
#define NOVADOCK_AGENT_DOCKER_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/docker_api.h"

namespace novadock::agent {

// Percent-encodes everything but RFC 3986 unreserved characters
// (A-Z a-z 0-9 - . _ ~), for query values and path segments.
std::string UrlEscape(absl::string_view s);

// "/v<api_version><path>", e.g. ("1.41", "/containers/json").
// REQUIRES: `path` starts with '/' and its variable parts are UrlEscape()d.
std::string VersionedPath(absl::string_view api_version,
                          absl::string_view path);

// Parses a Docker RFC3339Nano timestamp ("2024-05-01T10:00:00.123456789Z",
// or with a "+01:00" offset). Docker's zero time "0001-01-01T00:00:00Z" and
// "" mean never: absl::InfinitePast(). INTERNAL if unparseable.
[[nodiscard]] absl::StatusOr<absl::Time> ParseDockerTime(absl::string_view s);

// The `since` value of GET /events: "<seconds>.<9-digit nanos>".
std::string FormatEventsSince(int64_t unix_nanos);

// Body of POST /containers/create. Always HostConfig.Privileged=false, the
// spec's NetworkMode and limits, a json-file LogConfig with max-size and
// max-file, and SecurityOpt ["no-new-privileges"] when asked; the config
// drive as the one Mounts entry, always ReadOnly; static addresses as
// NetworkingConfig for the spec's network. Never Binds, other mounts, host
// namespaces, devices or CapAdd: ContainerSpec cannot ask.
std::string BuildCreateContainerBody(const ContainerSpec& spec);

// Body of POST /commit: the image config Docker merges the container's
// config into, {"Labels": {...}}.
std::string BuildCommitBody(const Labels& labels);

// Docker's `filters` query JSON: {"label":["a=b"],"type":["container"]}.
std::string BuildFiltersJson(const Filters& filters);

// Response parsers. `json` is the whole response body.
[[nodiscard]] absl::StatusOr<DockerVersion> ParseVersion(
    absl::string_view json);
[[nodiscard]] absl::StatusOr<DockerInfo> ParseInfo(absl::string_view json);
[[nodiscard]] absl::StatusOr<ImageDetails> ParseImageInspect(
    absl::string_view json);
// GET /images/json: every image (RepoTags without "<none>:<none>").
[[nodiscard]] absl::StatusOr<std::vector<ImageDetails>> ParseImageList(
    absl::string_view json);
// The JSON-lines body of POST /images/load: what was loaded ("repo:tag" or
// "sha256:..."). Docker reports a refused archive inside this 200 body:
// INVALID_ARGUMENT with Docker's message.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ParseLoadStream(
    absl::string_view body);
// POST /containers/create answer: returns the new container's Id.
[[nodiscard]] absl::StatusOr<std::string> ParseCreateResponse(
    absl::string_view json);
// POST /commit answer: returns the new image's Id ("sha256:...").
[[nodiscard]] absl::StatusOr<std::string> ParseCommitResponse(
    absl::string_view json);
[[nodiscard]] absl::StatusOr<ContainerDetails> ParseContainerInspect(
    absl::string_view json);
[[nodiscard]] absl::StatusOr<std::vector<ContainerSummary>> ParseContainerList(
    absl::string_view json);
[[nodiscard]] absl::StatusOr<ContainerStats> ParseContainerStats(
    absl::string_view json);
// One message of GET /events (one line of the stream, without the newline).
[[nodiscard]] absl::StatusOr<DockerEvent> ParseEvent(absl::string_view json);
// Docker's error body {"message": "..."}: returns the message.
[[nodiscard]] absl::StatusOr<std::string> ParseErrorMessage(
    absl::string_view json);

// Demultiplexes the body of GET /containers/{id}/logs (no TTY): frames of an
// 8-byte header [stream type 0|1|2, 0, 0, 0, big-endian uint32 size] and a
// payload. Chunks may split headers and payloads anywhere; payload bytes are
// passed on as they arrive, never buffered whole.
class LogFrameDemuxer {
 public:
  // `on_payload` gets stdout and stderr payload bytes in order; returning
  // false stops (Feed then returns OK and stopped() is true). Not owned; must
  // outlive the demuxer.
  explicit LogFrameDemuxer(const ChunkCallback& on_payload)
      : on_payload_(on_payload) {}

  // INTERNAL on a bad frame header (e.g. a TTY's raw stream).
  [[nodiscard]] absl::Status Feed(absl::string_view chunk);
  // At end of stream: INTERNAL if a frame was cut short.
  [[nodiscard]] absl::Status Finish() const;
  bool stopped() const { return stopped_; }

 private:
  const ChunkCallback& on_payload_;
  unsigned char header_[8] = {};
  size_t header_len_ = 0;      // Header bytes collected so far.
  uint64_t payload_left_ = 0;  // Payload bytes still due in this frame.
  uint64_t frame_count_ = 0;   // For error messages.
  bool stopped_ = false;
};

// Splits the body of GET /events into lines and parses each with ParseEvent.
// Keeps at most one partial line (up to kMaxLineBytes) between chunks.
class EventStreamDecoder {
 public:
  static constexpr size_t kMaxLineBytes = 1 << 20;

  // `on_event` returning false stops (Feed then returns OK and stopped() is
  // true). Not owned; must outlive the decoder.
  explicit EventStreamDecoder(const EventCallback& on_event)
      : on_event_(on_event) {}

  // INTERNAL on a malformed message or an over-long line.
  [[nodiscard]] absl::Status Feed(absl::string_view chunk);
  bool stopped() const { return stopped_; }

 private:
  [[nodiscard]] absl::Status DeliverLine(absl::string_view line);

  const EventCallback& on_event_;
  std::string partial_;  // Bytes after the last newline seen.
  bool stopped_ = false;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_DOCKER_JSON_H_
