// GlanceClient: the three Glance v2 image API calls novadock makes, reading an
// image's record and streaming its data down or up, behind a narrow
// interface.
// CurlGlanceClient (below) talks HTTP(S) to Glance; FakeGlanceClient
// (fake_glance_client.h) keeps images in memory for tests.
//
// Error codes, the same for every implementation (the one mapping for HTTP
// lives in glance_client.cc):
//   INVALID_ARGUMENT   the id is not a lower-case uuid; a token with control
//                      characters; Glance answered 400.
//   NOT_FOUND          "glance image <id> not found" (HTTP 404).
//   UNAUTHENTICATED    HTTP 401: the token is missing, expired or invalid.
//   PERMISSION_DENIED  HTTP 403: the token's project may not see the image.
//   UNAVAILABLE        no connection to the endpoint (the message names it),
//                      the transfer broke off, or Glance answered 5xx (Glance
//                      5xx are mostly transient: database, store, proxy).
//   DEADLINE_EXCEEDED  the request timed out or a download stalled.
//   FAILED_PRECONDITION  Download: the image has no data (HTTP 204).
//                      Upload: the image is not in queued state (HTTP 409).
//   RESOURCE_EXHAUSTED Upload: Glance refused the size (HTTP 413: a quota
//                      or its image_size_cap).
//   INTERNAL           an answer we cannot parse or did not expect.
// A keystone token is sent as X-Auth-Token when non-empty. It never appears in
// a log line or an error message.
#ifndef NOVADOCK_GLANCE_LOADER_GLANCE_CLIENT_H_
#define NOVADOCK_GLANCE_LOADER_GLANCE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace novadock::loader {

// An image's record as GET /v2/images/{id} returns it. Glance's null is "" for
// strings and -1 for size_bytes.
struct GlanceImage {
  std::string id;
  std::string name;
  std::string status;            // "queued", "saving", "active", ...
  std::string container_format;  // "docker" for novadock images.
  std::string disk_format;       // "raw" usually.
  int64_t size_bytes = -1;       // -1: no data yet.
  std::string checksum;          // Hex md5 of the data.
  std::string os_hash_algo;      // "sha512" by Glance's default.
  std::string os_hash_value;     // Hex digest with os_hash_algo.
  // Custom (non-base) properties with string values, e.g. "novadock_ref".
  // Other values are dropped; Glance's schema allows only strings.
  std::map<std::string, std::string> properties;
};

// Receives the image data in order, in chunks of any size. A non-OK return
// ends the download, and Download() returns that status unchanged.
using DownloadSink = std::function<absl::Status(absl::string_view chunk)>;

// Supplies the next bytes of an upload: writes at most `capacity` bytes to
// `buffer` and returns how many (0: the end), or an error, which ends the
// upload and is returned by Upload() unchanged.
using UploadReader =
    std::function<absl::StatusOr<size_t>(char* buffer, size_t capacity)>;

// Implementations are thread-safe: calls may run concurrently.
class GlanceClient {
 public:
  virtual ~GlanceClient() = default;

  // The record of image `id`, whatever its status or format (the caller
  // decides what it can use). Codes as above. Blocks for at most the
  // implementation's request timeout. Idempotent.
  [[nodiscard]] virtual absl::StatusOr<GlanceImage> GetImage(
      absl::string_view id, absl::string_view token) = 0;

  // Streams the data of image `id` (GET /v2/images/{id}/file) into `sink`,
  // keeping no more than a chunk in memory. OK: every byte Glance sent was
  // accepted by `sink`; the caller checks length and digests. Codes as above;
  // a transfer that breaks off is UNAVAILABLE. Blocks while data flows; a
  // stall ends it (DEADLINE_EXCEEDED).
  [[nodiscard]] virtual absl::Status Download(absl::string_view id,
                                              absl::string_view token,
                                              const DownloadSink& sink) = 0;

  // Uploads the data of queued image `id` (PUT /v2/images/{id}/file,
  // application/octet-stream), streamed from `reader` with bounded memory.
  // `size_bytes` >= 0 is sent as Content-Length, and a reader that gives
  // another number of bytes ends the upload with INVALID_ARGUMENT; -1 sends
  // chunked. OK: Glance stored the data; the image is then active with the
  // checksum and os_hash Glance computed. Codes as above. Not idempotent: a
  // second upload is FAILED_PRECONDITION. Blocks while data flows; a stall
  // ends it (DEADLINE_EXCEEDED).
  [[nodiscard]] virtual absl::Status Upload(absl::string_view id,
                                            absl::string_view token,
                                            const UploadReader& reader,
                                            int64_t size_bytes) = 0;
};

// GlanceClient over libcurl. Each call uses its own easy handle with
// CURLOPT_NOSIGNAL; *_proxy variables are ignored. Never calls
// curl_global_init (main does, once). Thread-safe; holds no lock during IO.
class CurlGlanceClient final : public GlanceClient {
 public:
  struct Options {
    // Glance's image endpoint, "http[s]://host[:port][/prefix]", without
    // credentials, query or fragment. A trailing "/" is dropped.
    std::string endpoint = "http://127.0.0.1:9292";
    // https only: PEM bundle of the CAs that may sign Glance's certificate.
    // Empty: the system's bundle. The peer and its host name are verified.
    std::string ca_file;
    // Limit on a whole GetImage call and on connecting for Download and
    // Upload. > 0.
    absl::Duration request_timeout = absl::Seconds(30);
    // Download or Upload fails (DEADLINE_EXCEEDED) when no byte moves for
    // this long (for Upload, Glance's storing after the last byte counts);
    // the total time is not limited, images may be large. >= 1 s (whole
    // seconds, rounded up).
    absl::Duration low_speed_timeout = absl::Seconds(60);
  };

  // Validates `options` without contacting Glance. INVALID_ARGUMENT naming the
  // option: not http(s), credentials in the URL, a ca_file with http or not
  // readable, a timeout out of range.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CurlGlanceClient>> Create(
      Options options);

  absl::StatusOr<GlanceImage> GetImage(absl::string_view id,
                                       absl::string_view token) override;
  absl::Status Download(absl::string_view id, absl::string_view token,
                        const DownloadSink& sink) override;
  absl::Status Upload(absl::string_view id, absl::string_view token,
                      const UploadReader& reader, int64_t size_bytes) override;

  const std::string& endpoint() const { return options_.endpoint; }

 private:
  struct Request;
  explicit CurlGlanceClient(Options options) : options_(std::move(options)) {}
  // Runs one request. Returns the buffered body of a GetImage, or "" after
  // streaming into request.sink or from request.upload; else the mapped
  // error.
  [[nodiscard]] absl::StatusOr<std::string> Perform(const Request& request);

  const Options options_;
};

// True if `id` is a Glance image id in canonical form: a uuid of 8-4-4-4-12
// lower-case hex digits. Only such ids are put into URLs and file names.
bool IsGlanceImageId(absl::string_view id);

// INVALID_ARGUMENT naming `id` unless IsGlanceImageId(id).
[[nodiscard]] absl::Status ValidateGlanceImageId(absl::string_view id);

// Parses the JSON of GET /v2/images/{id}. Every field's type is checked:
// id and status must be strings, the other base fields strings or null, size
// an integer >= 0 or null. INTERNAL naming the field otherwise.
[[nodiscard]] absl::StatusOr<GlanceImage> ParseGlanceImage(
    absl::string_view json);

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_GLANCE_CLIENT_H_
