#include "glance-loader/glance_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "proto/common/status_macros.h"
#include "proto/common/uuid.h"
#include "rapidjson/document.h"

namespace novadock::loader {

struct CurlGlanceClient::Request {
  std::string id;                      // Validated image id, for messages.
  std::string op;                      // "glance get image <id>", for messages.
  std::string path;                    // "/v2/images/<id>[/file]".
  std::string token;                   // Never logged or put into a message.
  const DownloadSink* sink = nullptr;  // Set: Download.
  const UploadReader* upload = nullptr;  // Set: Upload (PUT).
  int64_t upload_size = -1;              // -1: chunked.
};

namespace {

constexpr size_t kMaxRecordBytes = size_t{1} << 20;  // GetImage body.
constexpr size_t kMaxErrorBodyBytes = 16 << 10;
constexpr size_t kMaxQuotedChars = 200;
constexpr char kUserAgent[] = "novadock-glance-loader";

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// State shared with the write callback during one transfer.
struct Transfer {
  CURL* easy = nullptr;
  const DownloadSink* sink = nullptr;
  absl::Status sink_status;  // The sink's first error.
  std::string body;          // GetImage body, or an error body's start.
  bool too_big = false;      // A GetImage body over kMaxRecordBytes.
  std::string request_id;    // X-Openstack-Request-Id, for messages.
  const UploadReader* upload = nullptr;
  int64_t upload_size = -1;    // -1: not declared.
  int64_t uploaded = 0;        // Bytes the reader gave.
  absl::Status upload_status;  // The reader's error, or a size mismatch.
};

size_t ReadCallback(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t capacity = size * count;
  absl::StatusOr<size_t> n = (*t->upload)(buffer, capacity);
  if (n.ok() && *n > capacity) {
    n = absl::InternalError("glance upload: reader overran its buffer");
  }
  if (n.ok() && t->upload_size >= 0) {
    const int64_t total = t->uploaded + static_cast<int64_t>(*n);
    if (total > t->upload_size || (*n == 0 && total < t->upload_size)) {
      n = absl::InvalidArgumentError(absl::StrCat(
          "glance upload: the data is ", *n == 0 ? "" : "more than ", total,
          " bytes, but its size was given as ", t->upload_size));
    }
  }
  if (!n.ok()) {
    t->upload_status = n.status();
    return CURL_READFUNC_ABORT;
  }
  t->uploaded += static_cast<int64_t>(*n);
  return *n;
}

size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  long code = 0;  // NOLINT(google-runtime-int): libcurl's type.
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code == 200 && t->sink != nullptr) {
    t->sink_status = (*t->sink)(absl::string_view(data, n));
    return t->sink_status.ok() ? n : 0;  // 0 aborts: CURLE_WRITE_ERROR.
  }
  const size_t limit = code == 200 ? kMaxRecordBytes : kMaxErrorBodyBytes;
  if (t->body.size() + n > limit) {
    if (code == 200) {
      t->too_big = true;
      return 0;
    }
    t->body.append(data, limit - t->body.size());  // Keep the start.
    return n;
  }
  t->body.append(data, n);
  return n;
}

size_t HeaderCallback(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  absl::string_view line(data, n);
  constexpr absl::string_view kName = "x-openstack-request-id:";
  if (absl::StartsWithIgnoreCase(line, kName)) {
    line.remove_prefix(kName.size());
    t->request_id.clear();
    for (char c : absl::StripAsciiWhitespace(line).substr(0, 80)) {
      if (absl::ascii_isgraph(static_cast<unsigned char>(c))) {
        t->request_id.push_back(c);
      }
    }
  }
  return n;
}

// The text of an error body on one line, for a message: Glance's errors are
// small HTML pages, so tags are dropped and blanks collapsed.
std::string Excerpt(absl::string_view body) {
  std::string out;
  bool space = false;
  bool in_tag = false;
  for (char c : body) {
    if (out.size() >= kMaxQuotedChars) break;
    if (c == '<' || c == '>') {
      in_tag = c == '<';
      space = !out.empty();
      continue;
    }
    if (in_tag) continue;
    const bool blank = absl::ascii_isspace(static_cast<unsigned char>(c)) ||
                       !absl::ascii_isprint(static_cast<unsigned char>(c));
    if (blank) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out.empty() ? "(no message)" : out;
}

// The one mapping from a transfer's outcome and Glance's answer to a status.
absl::Status GlanceStatus(absl::string_view endpoint, absl::string_view id,
                          absl::string_view op, CURLcode curl_code,
                          const char* curl_error,
                          long http_code,  // NOLINT(google-runtime-int)
                          absl::string_view body, absl::string_view request_id,
                          bool upload) {
  const std::string curl_text =
      curl_error[0] != '\0' ? curl_error : curl_easy_strerror(curl_code);
  if (curl_code == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(
        absl::StrCat(op, ": glance at ", endpoint, ": ", curl_text));
  }
  if (curl_code == CURLE_PARTIAL_FILE) {
    return absl::UnavailableError(absl::StrCat(
        op, ": glance at ", endpoint, ": transfer broke off: ", curl_text));
  }
  if (curl_code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        op, ": no answer from glance at ", endpoint, ": ", curl_text));
  }
  const std::string text =
      absl::StrCat(op, ": ", Excerpt(body), " (HTTP ", http_code,
                   request_id.empty() ? "" : ", request ", request_id, ")");
  if (upload) {
    switch (http_code) {
      case 200:
      case 201:
      case 204:  // Glance's answer to a stored upload.
        return absl::OkStatus();
      case 409:
        return absl::FailedPreconditionError(absl::StrCat(
            "glance image ", id, " is not in queued state: ", text));
      case 413:
        return absl::ResourceExhaustedError(text);
      default:
        break;  // As for the other calls.
    }
  }
  switch (http_code) {
    case 200:
      return absl::OkStatus();
    case 204:  // Download of an image without data (or whose file is gone).
      return absl::FailedPreconditionError(
          absl::StrCat("glance image ", id, " has no data (HTTP 204)"));
    case 400:
      return absl::InvalidArgumentError(text);
    case 401:
      return absl::UnauthenticatedError(text);
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(
          absl::StrCat("glance image ", id, " not found"));
    default:
      if (http_code >= 500 && http_code < 600) {
        return absl::UnavailableError(text);
      }
      return absl::InternalError(text);  // Answers we do not expect.
  }
}

[[nodiscard]] absl::Status ValidateToken(absl::string_view token) {
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          "keystone token contains control characters");
    }
  }
  return absl::OkStatus();
}

// Copies a string-or-null member into `out`. INTERNAL if another type.
[[nodiscard]] absl::Status OptionalString(const rapidjson::Value& object,
                                          const char* key, std::string& out) {
  const auto it = object.FindMember(key);
  if (it == object.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  if (!it->value.IsString()) {
    return absl::InternalError(
        absl::StrCat("glance image record: \"", key, "\" is not a string"));
  }
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return absl::OkStatus();
}

// Glance v2 base image properties; everything else is a custom property.
const std::set<std::string>& BaseProperties() {
  static const auto* const kBase = new std::set<std::string>{"checksum",
                                                             "container_format",
                                                             "created_at",
                                                             "direct_url",
                                                             "disk_format",
                                                             "file",
                                                             "id",
                                                             "locations",
                                                             "min_disk",
                                                             "min_ram",
                                                             "name",
                                                             "os_hash_algo",
                                                             "os_hash_value",
                                                             "os_hidden",
                                                             "owner",
                                                             "protected",
                                                             "schema",
                                                             "self",
                                                             "size",
                                                             "status",
                                                             "stores",
                                                             "tags",
                                                             "updated_at",
                                                             "virtual_size",
                                                             "visibility"};
  return *kBase;
}

[[nodiscard]] absl::Status CheckReadableFile(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "glance option ca_file \"", path, "\": not a readable file"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsGlanceImageId(absl::string_view id) { return IsLowercaseUuid(id); }

absl::Status ValidateGlanceImageId(absl::string_view id) {
  if (IsGlanceImageId(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("glance image id \"", absl::CHexEscape(id.substr(0, 64)),
                   "\": want a lower-case uuid (8-4-4-4-12 hex digits)"));
}

absl::StatusOr<GlanceImage> ParseGlanceImage(absl::string_view json) {
  rapidjson::Document doc;
  // Iterative: a deeply nested record must not exhaust the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InternalError("glance image record: not a JSON object");
  }
  GlanceImage image;
  for (const char* key : {"id", "status"}) {
    const auto it = doc.FindMember(key);
    if (it == doc.MemberEnd() || !it->value.IsString()) {
      return absl::InternalError(absl::StrCat("glance image record: \"", key,
                                              "\" missing or not a string"));
    }
  }
  NOVADOCK_RETURN_IF_ERROR(OptionalString(doc, "id", image.id));
  NOVADOCK_RETURN_IF_ERROR(OptionalString(doc, "status", image.status));
  NOVADOCK_RETURN_IF_ERROR(OptionalString(doc, "name", image.name));
  NOVADOCK_RETURN_IF_ERROR(
      OptionalString(doc, "container_format", image.container_format));
  NOVADOCK_RETURN_IF_ERROR(
      OptionalString(doc, "disk_format", image.disk_format));
  NOVADOCK_RETURN_IF_ERROR(OptionalString(doc, "checksum", image.checksum));
  NOVADOCK_RETURN_IF_ERROR(
      OptionalString(doc, "os_hash_algo", image.os_hash_algo));
  NOVADOCK_RETURN_IF_ERROR(
      OptionalString(doc, "os_hash_value", image.os_hash_value));
  if (const auto it = doc.FindMember("size");
      it != doc.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsInt64() || it->value.GetInt64() < 0) {
      return absl::InternalError(
          "glance image record: \"size\" is not an integer >= 0");
    }
    image.size_bytes = it->value.GetInt64();
  }
  for (const auto& member : doc.GetObject()) {
    const std::string key(member.name.GetString(),
                          member.name.GetStringLength());
    if (BaseProperties().count(key) != 0 || !member.value.IsString()) continue;
    image.properties[key].assign(member.value.GetString(),
                                 member.value.GetStringLength());
  }
  return image;
}

absl::StatusOr<std::unique_ptr<CurlGlanceClient>> CurlGlanceClient::Create(
    Options options) {
  absl::string_view rest = options.endpoint;
  const bool https = absl::ConsumePrefix(&rest, "https://");
  if (!https && !absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("glance option endpoint \"", options.endpoint,
                     "\": scheme must be http:// or https://"));
  }
  const absl::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || absl::StrContains(authority, '@') ||
      absl::StrContains(rest, '?') || absl::StrContains(rest, '#')) {
    // The endpoint is not quoted: it may hold credentials.
    return absl::InvalidArgumentError(
        "glance option endpoint: want http[s]://host[:port][/prefix] without "
        "credentials, query or fragment");
  }
  while (absl::ConsumeSuffix(&rest, "/")) {
  }
  options.endpoint = absl::StrCat(https ? "https://" : "http://", rest);
  if (!options.ca_file.empty()) {
    if (!https) {
      return absl::InvalidArgumentError(
          "glance option ca_file applies only to an https:// endpoint");
    }
    NOVADOCK_RETURN_IF_ERROR(CheckReadableFile(options.ca_file));
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "glance option request_timeout: must be positive");
  }
  if (options.low_speed_timeout < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        "glance option low_speed_timeout: must be at least 1s");
  }
  return std::unique_ptr<CurlGlanceClient>(
      new CurlGlanceClient(std::move(options)));
}

absl::StatusOr<std::string> CurlGlanceClient::Perform(const Request& request) {
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (easy == nullptr) {
    return absl::InternalError(
        absl::StrCat(request.op, ": curl_easy_init failed"));
  }
  SlistPtr headers(curl_slist_append(nullptr, "Expect:"));
  if (headers == nullptr) {
    return absl::InternalError(absl::StrCat(request.op, ": out of memory"));
  }
  curl_slist_append(headers.get(), request.sink == nullptr
                                       ? "Accept: application/json"
                                       : "Accept: application/octet-stream");
  if (request.upload != nullptr) {
    curl_slist_append(headers.get(), "Content-Type: application/octet-stream");
    if (request.upload_size < 0) {
      curl_slist_append(headers.get(), "Transfer-Encoding: chunked");
    }
  }
  if (!request.token.empty()) {
    const std::string header = absl::StrCat("X-Auth-Token: ", request.token);
    if (curl_slist_append(headers.get(), header.c_str()) == nullptr) {
      return absl::InternalError(absl::StrCat(request.op, ": out of memory"));
    }
  }
  const std::string url = absl::StrCat(options_.endpoint, request.path);
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // Ignore *_proxy variables.
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, kUserAgent);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  const auto ms = [](absl::Duration d) {
    return static_cast<long>(  // NOLINT(google-runtime-int)
        std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
  };
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms(options_.request_timeout));
  if (request.upload != nullptr) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);  // PUT.
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadCallback);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 256L << 10);
    if (request.upload_size >= 0) {
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                       static_cast<curl_off_t>(request.upload_size));
    }
  }
  if (request.sink == nullptr && request.upload == nullptr) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms(options_.request_timeout));
  } else {
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L << 10);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(  // NOLINT(google-runtime-int)
                         absl::ToInt64Seconds(absl::Ceil(
                             options_.low_speed_timeout, absl::Seconds(1)))));
  }
  Transfer transfer;
  transfer.easy = h;
  transfer.sink = request.sink;
  transfer.upload = request.upload;
  transfer.upload_size = request.upload_size;
  if (request.upload != nullptr) {
    curl_easy_setopt(h, CURLOPT_READDATA, &transfer);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteCallback);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &HeaderCallback);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);

  const CURLcode curl_code = curl_easy_perform(h);
  long http_code = 0;  // NOLINT(google-runtime-int): libcurl's type.
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http_code);
  if (!transfer.sink_status.ok()) return transfer.sink_status;
  if (!transfer.upload_status.ok()) return transfer.upload_status;
  if (transfer.too_big) {
    return absl::InternalError(absl::StrCat(
        request.op, ": image record larger than ", kMaxRecordBytes, " bytes"));
  }
  if (!request.token.empty()) {  // Were Glance to echo the token back.
    transfer.body =
        absl::StrReplaceAll(transfer.body, {{request.token, "***"}});
  }
  NOVADOCK_RETURN_IF_ERROR(
      GlanceStatus(options_.endpoint, request.id, request.op, curl_code,
                   error_buffer, http_code, transfer.body, transfer.request_id,
                   request.upload != nullptr));
  return std::move(transfer.body);
}

absl::StatusOr<GlanceImage> CurlGlanceClient::GetImage(
    absl::string_view id, absl::string_view token) {
  NOVADOCK_RETURN_IF_ERROR(ValidateGlanceImageId(id));
  NOVADOCK_RETURN_IF_ERROR(ValidateToken(token));
  Request request;
  request.id.assign(id.data(), id.size());
  request.op = absl::StrCat("glance get image ", id);
  request.path = absl::StrCat("/v2/images/", id);
  request.token.assign(token.data(), token.size());
  NOVADOCK_ASSIGN_OR_RETURN(const std::string body, Perform(request));
  absl::StatusOr<GlanceImage> image = ParseGlanceImage(body);
  if (!image.ok()) return Annotate(image.status(), request.op);
  if (image->id != id) {
    return absl::InternalError(
        absl::StrCat(request.op, ": glance answered with image \"",
                     absl::CHexEscape(image->id.substr(0, 64)), "\""));
  }
  return image;
}

absl::Status CurlGlanceClient::Download(absl::string_view id,
                                        absl::string_view token,
                                        const DownloadSink& sink) {
  NOVADOCK_RETURN_IF_ERROR(ValidateGlanceImageId(id));
  NOVADOCK_RETURN_IF_ERROR(ValidateToken(token));
  Request request;
  request.id.assign(id.data(), id.size());
  request.op = absl::StrCat("glance download image ", id);
  request.path = absl::StrCat("/v2/images/", id, "/file");
  request.token.assign(token.data(), token.size());
  request.sink = &sink;
  return Perform(request).status();
}

absl::Status CurlGlanceClient::Upload(absl::string_view id,
                                      absl::string_view token,
                                      const UploadReader& reader,
                                      int64_t size_bytes) {
  NOVADOCK_RETURN_IF_ERROR(ValidateGlanceImageId(id));
  NOVADOCK_RETURN_IF_ERROR(ValidateToken(token));
  Request request;
  request.id.assign(id.data(), id.size());
  request.op = absl::StrCat("glance upload image ", id);
  request.path = absl::StrCat("/v2/images/", id, "/file");
  request.token.assign(token.data(), token.size());
  request.upload = &reader;
  request.upload_size = size_bytes < 0 ? -1 : size_bytes;
  return Perform(request).status();
}

}  // namespace novadock::loader
