#include "agent/docker_json.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/common/status_macros.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace novadock::agent {
namespace {

using rapidjson::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Reads typed fields of one JSON object; `obj` null means the object was
// absent, and every field then keeps its default. Errors name `response` and
// the dotted path of the field.
class ObjectReader {
 public:
  ObjectReader(const Value* obj, absl::string_view response, std::string path)
      : obj_(obj), response_(response), path_(std::move(path)) {}

  [[nodiscard]] absl::Status String(const char* key, std::string* out) const {
    const Value* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->IsString()) return Bad(key, "is not a string");
    out->assign(v->GetString(), v->GetStringLength());
    return absl::OkStatus();
  }
  // Like String, but absent or empty is an error.
  [[nodiscard]] absl::Status RequiredString(const char* key,
                                            std::string* out) const {
    NOVADOCK_RETURN_IF_ERROR(String(key, out));
    if (out->empty()) return Bad(key, "is missing");
    return absl::OkStatus();
  }
  [[nodiscard]] absl::Status Int64(const char* key, int64_t* out) const {
    const Value* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->IsInt64()) return Bad(key, "is not an integer");
    *out = v->GetInt64();
    return absl::OkStatus();
  }
  [[nodiscard]] absl::Status Int32(const char* key, int32_t* out) const {
    const Value* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->IsInt()) return Bad(key, "is not a 32-bit integer");
    *out = v->GetInt();
    return absl::OkStatus();
  }
  [[nodiscard]] absl::Status Uint64(const char* key, uint64_t* out) const {
    const Value* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->IsUint64()) return Bad(key, "is not an unsigned integer");
    *out = v->GetUint64();
    return absl::OkStatus();
  }
  [[nodiscard]] absl::Status Bool(const char* key, bool* out) const {
    const Value* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->IsBool()) return Bad(key, "is not a boolean");
    *out = v->GetBool();
    return absl::OkStatus();
  }
  [[nodiscard]] absl::Status Time(const char* key, absl::Time* out) const {
    std::string text;
    NOVADOCK_RETURN_IF_ERROR(String(key, &text));
    absl::StatusOr<absl::Time> t = ParseDockerTime(text);
    if (!t.ok()) return Bad(key, t.status().message());
    *out = *t;
    return absl::OkStatus();
  }
  // A JSON object of strings (Labels, Actor.Attributes).
  [[nodiscard]] absl::Status StringMap(const char* key, Labels* out) const {
    const Value* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->IsObject()) return Bad(key, "is not an object");
    for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
      if (!it->value.IsString()) {
        return Bad(key, absl::StrCat("member \"", it->name.GetString(),
                                     "\" is not a string"));
      }
      (*out)[std::string(it->name.GetString(), it->name.GetStringLength())] =
          std::string(it->value.GetString(), it->value.GetStringLength());
    }
    return absl::OkStatus();
  }
  [[nodiscard]] absl::Status StringArray(const char* key,
                                         std::vector<std::string>* out) const {
    const Value* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->IsArray()) return Bad(key, "is not an array");
    for (const Value& e : v->GetArray()) {
      if (!e.IsString()) return Bad(key, "has an element that is not a string");
      out->emplace_back(e.GetString(), e.GetStringLength());
    }
    return absl::OkStatus();
  }
  // The members of object `key` that are objects, by name (Networks).
  [[nodiscard]] absl::StatusOr<
      std::vector<std::pair<std::string, ObjectReader>>>
  ObjectMap(const char* key) const {
    std::vector<std::pair<std::string, ObjectReader>> out;
    const Value* v = Find(key);
    if (v == nullptr) return out;
    if (!v->IsObject()) return Bad(key, "is not an object");
    for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
      std::string name(it->name.GetString(), it->name.GetStringLength());
      if (!it->value.IsObject() && !it->value.IsNull()) {
        return Bad(key, absl::StrCat("member \"", name, "\" is not an object"));
      }
      out.emplace_back(
          name,
          ObjectReader(it->value.IsNull() ? nullptr : &it->value, response_,
                       absl::StrCat(path_, key, ".", name, ".")));
    }
    return out;
  }
  // The elements of array `key`, each an object (Mounts).
  [[nodiscard]] absl::StatusOr<std::vector<ObjectReader>> ObjectArray(
      const char* key) const {
    std::vector<ObjectReader> out;
    const Value* v = Find(key);
    if (v == nullptr) return out;
    if (!v->IsArray()) return Bad(key, "is not an array");
    for (const Value& e : v->GetArray()) {
      if (!e.IsObject())
        return Bad(key, "has an element that is not an object");
      out.emplace_back(&e, response_,
                       absl::StrCat(path_, key, "[", out.size(), "]."));
    }
    return out;
  }
  // The nested object `key`; absent or null gives a reader of defaults.
  [[nodiscard]] absl::StatusOr<ObjectReader> Object(const char* key) const {
    const Value* v = Find(key);
    if (v != nullptr && !v->IsObject()) return Bad(key, "is not an object");
    return ObjectReader(v, response_, absl::StrCat(path_, key, "."));
  }

 private:
  const Value* Find(const char* key) const {
    if (obj_ == nullptr) return nullptr;
    auto it = obj_->FindMember(key);
    if (it == obj_->MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }
  absl::Status Bad(const char* key, absl::string_view why) const {
    return absl::InternalError(
        absl::StrCat(response_, ": ", path_, key, " ", why));
  }

  const Value* const obj_;
  const absl::string_view response_;
  const std::string path_;
};

// Parses `json` into `doc`. INTERNAL unless it is valid JSON of `type`.
[[nodiscard]] absl::Status ParseDocument(absl::string_view json,
                                         absl::string_view response,
                                         rapidjson::Type type,
                                         rapidjson::Document& doc) {
  // Iterative: a deeply nested body ("[[[[...") must not exhaust the stack
  // of the calling thread (found by tests/fuzz/docker_json).
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InternalError(absl::StrCat(
        response, ": invalid JSON at offset ", doc.GetErrorOffset(), ": ",
        rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (doc.GetType() != type) {
    return absl::InternalError(absl::StrCat(
        response, type == rapidjson::kArrayType ? ": not a JSON array"
                                                : ": not a JSON object"));
  }
  return absl::OkStatus();
}

void WriteString(JsonWriter& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteStringArray(JsonWriter& w, const std::vector<std::string>& values) {
  w.StartArray();
  for (const std::string& v : values) WriteString(w, v);
  w.EndArray();
}

std::string StripSlash(absl::string_view name) {
  return std::string(absl::StripPrefix(name, "/"));
}

[[nodiscard]] absl::Status ReadState(const ObjectReader& r,
                                     ContainerState& state) {
  NOVADOCK_RETURN_IF_ERROR(r.String("Status", &state.status));
  NOVADOCK_RETURN_IF_ERROR(r.Bool("Running", &state.running));
  NOVADOCK_RETURN_IF_ERROR(r.Bool("Paused", &state.paused));
  NOVADOCK_RETURN_IF_ERROR(r.Int32("Pid", &state.pid));
  NOVADOCK_RETURN_IF_ERROR(r.Int32("ExitCode", &state.exit_code));
  NOVADOCK_RETURN_IF_ERROR(r.Time("StartedAt", &state.started_at));
  return r.Time("FinishedAt", &state.finished_at);
}

[[nodiscard]] absl::Status ReadHostConfig(const ObjectReader& r,
                                          ContainerDetails& d) {
  NOVADOCK_RETURN_IF_ERROR(r.Int64("Memory", &d.memory_bytes));
  NOVADOCK_RETURN_IF_ERROR(r.Int64("MemorySwap", &d.memory_swap_bytes));
  NOVADOCK_RETURN_IF_ERROR(r.Int64("NanoCpus", &d.nano_cpus));
  NOVADOCK_RETURN_IF_ERROR(r.Int64("CpuShares", &d.cpu_shares));
  NOVADOCK_RETURN_IF_ERROR(r.Int64("PidsLimit", &d.pids_limit));
  NOVADOCK_RETURN_IF_ERROR(r.Bool("Privileged", &d.privileged));
  return r.String("NetworkMode", &d.network_mode);
}

}  // namespace

std::string UrlEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                            c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string VersionedPath(absl::string_view api_version,
                          absl::string_view path) {
  return absl::StrCat("/v", api_version, path);
}

absl::StatusOr<absl::Time> ParseDockerTime(absl::string_view s) {
  if (s.empty() || absl::StartsWith(s, "0001-01-01T00:00:00")) {
    return absl::InfinitePast();
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) {
    return absl::InternalError(
        absl::StrCat("timestamp \"", s, "\" is not RFC 3339: ", err));
  }
  return t;
}

std::string FormatEventsSince(int64_t unix_nanos) {
  return absl::StrFormat("%d.%09d", unix_nanos / 1000000000,
                         unix_nanos % 1000000000);
}

std::string BuildCreateContainerBody(const ContainerSpec& spec) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("Image");
  WriteString(w, spec.image);
  if (!spec.hostname.empty()) {
    w.Key("Hostname");
    WriteString(w, spec.hostname);
  }
  if (!spec.cmd.empty()) {
    w.Key("Cmd");
    WriteStringArray(w, spec.cmd);
  }
  w.Key("Env");
  WriteStringArray(w, spec.env);
  w.Key("Labels");
  w.StartObject();
  for (const auto& [key, value] : spec.labels) {
    WriteString(w, key);
    WriteString(w, value);
  }
  w.EndObject();
  w.Key("Tty");
  w.Bool(false);
  if (!spec.mac_address.empty()) {
    w.Key("MacAddress");
    WriteString(w, spec.mac_address);
  }

  w.Key("HostConfig");
  w.StartObject();
  w.Key("Privileged");
  w.Bool(false);
  w.Key("NetworkMode");
  WriteString(w, spec.network_mode);
  w.Key("Memory");
  w.Int64(spec.memory_bytes);
  w.Key("MemorySwap");
  w.Int64(spec.memory_swap_bytes);
  w.Key("NanoCpus");
  w.Int64(spec.nano_cpus);
  w.Key("CpuShares");
  w.Int64(spec.cpu_shares);
  w.Key("PidsLimit");
  w.Int64(spec.pids_limit);
  w.Key("LogConfig");
  w.StartObject();
  w.Key("Type");
  w.String("json-file");
  w.Key("Config");
  w.StartObject();
  w.Key("max-size");
  WriteString(w, spec.log_max_size);
  w.Key("max-file");
  WriteString(w, absl::StrCat(spec.log_max_files));
  w.EndObject();
  w.EndObject();
  w.Key("SecurityOpt");
  WriteStringArray(w, spec.no_new_privileges
                          ? std::vector<std::string>{"no-new-privileges"}
                          : std::vector<std::string>{});
  if (!spec.config_source.empty()) {
    w.Key("Mounts");
    w.StartArray();
    w.StartObject();
    w.Key("Type");
    w.String("bind");
    w.Key("Source");
    WriteString(w, spec.config_source);
    w.Key("Target");
    WriteString(w, spec.config_target);
    w.Key("ReadOnly");
    w.Bool(true);
    w.EndObject();
    w.EndArray();
  }
  w.EndObject();  // HostConfig

  if (!spec.ipv4_address.empty() || !spec.ipv6_address.empty()) {
    w.Key("NetworkingConfig");
    w.StartObject();
    w.Key("EndpointsConfig");
    w.StartObject();
    WriteString(w, spec.network_mode);
    w.StartObject();
    w.Key("IPAMConfig");
    w.StartObject();
    if (!spec.ipv4_address.empty()) {
      w.Key("IPv4Address");
      WriteString(w, spec.ipv4_address);
    }
    if (!spec.ipv6_address.empty()) {
      w.Key("IPv6Address");
      WriteString(w, spec.ipv6_address);
    }
    w.EndObject();  // IPAMConfig
    w.EndObject();  // The endpoint.
    w.EndObject();  // EndpointsConfig
    w.EndObject();  // NetworkingConfig
  }

  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string BuildCommitBody(const Labels& labels) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("Labels");
  w.StartObject();
  for (const auto& [key, value] : labels) {
    WriteString(w, key);
    WriteString(w, value);
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string BuildFiltersJson(const Filters& filters) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  for (const auto& [key, values] : filters) {
    WriteString(w, key);
    WriteStringArray(w, values);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<DockerVersion> ParseVersion(absl::string_view json) {
  constexpr absl::string_view kWhat = "docker version response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kObjectType, doc));
  const ObjectReader r(&doc, kWhat, "");
  DockerVersion v;
  NOVADOCK_RETURN_IF_ERROR(r.RequiredString("Version", &v.version));
  NOVADOCK_RETURN_IF_ERROR(r.RequiredString("ApiVersion", &v.api_version));
  NOVADOCK_RETURN_IF_ERROR(r.String("Os", &v.os));
  NOVADOCK_RETURN_IF_ERROR(r.String("Arch", &v.arch));
  NOVADOCK_RETURN_IF_ERROR(r.String("KernelVersion", &v.kernel_version));
  return v;
}

absl::StatusOr<DockerInfo> ParseInfo(absl::string_view json) {
  constexpr absl::string_view kWhat = "docker info response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kObjectType, doc));
  const ObjectReader r(&doc, kWhat, "");
  DockerInfo info;
  NOVADOCK_RETURN_IF_ERROR(r.String("Name", &info.name));
  NOVADOCK_RETURN_IF_ERROR(r.Int64("MemTotal", &info.mem_total_bytes));
  NOVADOCK_RETURN_IF_ERROR(r.Int32("NCPU", &info.ncpu));
  NOVADOCK_RETURN_IF_ERROR(r.String("DockerRootDir", &info.docker_root_dir));
  return info;
}

absl::StatusOr<ImageDetails> ParseImageInspect(absl::string_view json) {
  constexpr absl::string_view kWhat = "docker image inspect response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kObjectType, doc));
  const ObjectReader r(&doc, kWhat, "");
  ImageDetails image;
  NOVADOCK_RETURN_IF_ERROR(r.RequiredString("Id", &image.id));
  NOVADOCK_RETURN_IF_ERROR(r.StringArray("RepoTags", &image.repo_tags));
  NOVADOCK_RETURN_IF_ERROR(r.Int64("Size", &image.size_bytes));
  return image;
}

namespace {

// The "Id" of a {"Id": "..."} answer (create, commit), named `what` in errors.
absl::StatusOr<std::string> ParseIdResponse(absl::string_view json,
                                            absl::string_view what) {
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, what, rapidjson::kObjectType, doc));
  std::string id;
  NOVADOCK_RETURN_IF_ERROR(
      ObjectReader(&doc, what, "").RequiredString("Id", &id));
  return id;
}

}  // namespace

absl::StatusOr<std::string> ParseCreateResponse(absl::string_view json) {
  return ParseIdResponse(json, "docker container create response");
}

absl::StatusOr<std::string> ParseCommitResponse(absl::string_view json) {
  return ParseIdResponse(json, "docker commit response");
}

absl::StatusOr<ContainerDetails> ParseContainerInspect(absl::string_view json) {
  constexpr absl::string_view kWhat = "docker container inspect response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kObjectType, doc));
  const ObjectReader r(&doc, kWhat, "");
  ContainerDetails d;
  NOVADOCK_RETURN_IF_ERROR(r.RequiredString("Id", &d.id));
  NOVADOCK_RETURN_IF_ERROR(r.String("Name", &d.name));
  d.name = StripSlash(d.name);
  NOVADOCK_RETURN_IF_ERROR(r.String("Image", &d.image_id));
  NOVADOCK_RETURN_IF_ERROR(r.Time("Created", &d.created));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader config, r.Object("Config"));
  NOVADOCK_RETURN_IF_ERROR(config.String("Hostname", &d.hostname));
  NOVADOCK_RETURN_IF_ERROR(config.StringMap("Labels", &d.labels));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader state, r.Object("State"));
  NOVADOCK_RETURN_IF_ERROR(ReadState(state, d.state));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader host, r.Object("HostConfig"));
  NOVADOCK_RETURN_IF_ERROR(ReadHostConfig(host, d));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader settings,
                            r.Object("NetworkSettings"));
  NOVADOCK_ASSIGN_OR_RETURN(auto networks, settings.ObjectMap("Networks"));
  for (const auto& [name, endpoint] : networks) {
    if (name == "none") continue;  // No network: not an address.
    ContainerNetwork n;
    n.name = name;
    NOVADOCK_RETURN_IF_ERROR(endpoint.String("IPAddress", &n.ipv4_address));
    NOVADOCK_RETURN_IF_ERROR(
        endpoint.String("GlobalIPv6Address", &n.ipv6_address));
    NOVADOCK_RETURN_IF_ERROR(endpoint.String("MacAddress", &n.mac_address));
    d.networks.push_back(std::move(n));
  }
  NOVADOCK_ASSIGN_OR_RETURN(auto mounts, r.ObjectArray("Mounts"));
  for (const ObjectReader& m : mounts) {
    ContainerMount mount;
    NOVADOCK_RETURN_IF_ERROR(m.String("Type", &mount.type));
    NOVADOCK_RETURN_IF_ERROR(m.String("Source", &mount.source));
    NOVADOCK_RETURN_IF_ERROR(m.String("Destination", &mount.destination));
    NOVADOCK_RETURN_IF_ERROR(m.Bool("RW", &mount.read_write));
    d.mounts.push_back(std::move(mount));
  }
  return d;
}

absl::StatusOr<std::vector<ImageDetails>> ParseImageList(
    absl::string_view json) {
  constexpr absl::string_view kWhat = "docker image list response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kArrayType, doc));
  std::vector<ImageDetails> out;
  out.reserve(doc.Size());
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    if (!doc[i].IsObject()) {
      return absl::InternalError(
          absl::StrCat(kWhat, ": element ", i, " is not an object"));
    }
    const ObjectReader r(&doc[i], kWhat, absl::StrCat("[", i, "]."));
    ImageDetails image;
    NOVADOCK_RETURN_IF_ERROR(r.RequiredString("Id", &image.id));
    std::vector<std::string> tags;
    NOVADOCK_RETURN_IF_ERROR(r.StringArray("RepoTags", &tags));
    for (std::string& tag : tags) {
      if (tag != "<none>:<none>") image.repo_tags.push_back(std::move(tag));
    }
    NOVADOCK_RETURN_IF_ERROR(r.Int64("Size", &image.size_bytes));
    out.push_back(std::move(image));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ParseLoadStream(
    absl::string_view body) {
  constexpr absl::string_view kWhat = "docker load response";
  constexpr absl::string_view kTagged = "Loaded image: ";
  constexpr absl::string_view kUntagged = "Loaded image ID: ";
  std::vector<std::string> loaded;
  for (absl::string_view line :
       absl::StrSplit(body, '\n', absl::SkipWhitespace())) {
    rapidjson::Document doc;
    NOVADOCK_RETURN_IF_ERROR(
        ParseDocument(line, kWhat, rapidjson::kObjectType, doc));
    const ObjectReader r(&doc, kWhat, "");
    std::string error, stream;
    NOVADOCK_RETURN_IF_ERROR(r.String("error", &error));
    if (!error.empty()) return absl::InvalidArgumentError(error);
    NOVADOCK_RETURN_IF_ERROR(r.String("stream", &stream));
    absl::string_view text = absl::StripAsciiWhitespace(stream);
    if (absl::ConsumePrefix(&text, kUntagged) ||
        absl::ConsumePrefix(&text, kTagged)) {
      loaded.emplace_back(text);
    }
  }
  if (loaded.empty()) {
    return absl::InternalError(
        absl::StrCat(kWhat, ": Docker named no loaded image"));
  }
  return loaded;
}

absl::StatusOr<std::vector<ContainerSummary>> ParseContainerList(
    absl::string_view json) {
  constexpr absl::string_view kWhat = "docker container list response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kArrayType, doc));
  std::vector<ContainerSummary> out;
  out.reserve(doc.Size());
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    const std::string path = absl::StrCat("[", i, "].");
    if (!doc[i].IsObject()) {
      return absl::InternalError(
          absl::StrCat(kWhat, ": element ", i, " is not an object"));
    }
    const ObjectReader r(&doc[i], kWhat, path);
    ContainerSummary c;
    NOVADOCK_RETURN_IF_ERROR(r.RequiredString("Id", &c.id));
    std::vector<std::string> names;
    NOVADOCK_RETURN_IF_ERROR(r.StringArray("Names", &names));
    if (!names.empty()) c.name = StripSlash(names.front());
    NOVADOCK_RETURN_IF_ERROR(r.String("Image", &c.image));
    NOVADOCK_RETURN_IF_ERROR(r.String("State", &c.state));
    NOVADOCK_RETURN_IF_ERROR(r.StringMap("Labels", &c.labels));
    int64_t created_unix_seconds = 0;
    NOVADOCK_RETURN_IF_ERROR(r.Int64("Created", &created_unix_seconds));
    if (created_unix_seconds > 0) {
      c.created = absl::FromUnixSeconds(created_unix_seconds);
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<ContainerStats> ParseContainerStats(absl::string_view json) {
  constexpr absl::string_view kWhat = "docker container stats response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kObjectType, doc));
  const ObjectReader r(&doc, kWhat, "");
  ContainerStats s;
  NOVADOCK_RETURN_IF_ERROR(r.Time("read", &s.read));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader cpu, r.Object("cpu_stats"));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader usage, cpu.Object("cpu_usage"));
  NOVADOCK_RETURN_IF_ERROR(usage.Uint64("total_usage", &s.cpu_total_nanos));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader mem, r.Object("memory_stats"));
  NOVADOCK_RETURN_IF_ERROR(mem.Uint64("usage", &s.memory_usage_bytes));
  NOVADOCK_RETURN_IF_ERROR(mem.Uint64("limit", &s.memory_limit_bytes));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader pids, r.Object("pids_stats"));
  NOVADOCK_RETURN_IF_ERROR(pids.Uint64("current", &s.pids_current));
  return s;
}

absl::StatusOr<DockerEvent> ParseEvent(absl::string_view json) {
  constexpr absl::string_view kWhat = "docker event";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kObjectType, doc));
  const ObjectReader r(&doc, kWhat, "");
  DockerEvent e;
  NOVADOCK_RETURN_IF_ERROR(r.String("Type", &e.type));
  NOVADOCK_RETURN_IF_ERROR(r.String("Action", &e.action));
  NOVADOCK_RETURN_IF_ERROR(r.Int64("timeNano", &e.time_unix_nanos));
  NOVADOCK_ASSIGN_OR_RETURN(const ObjectReader actor, r.Object("Actor"));
  NOVADOCK_RETURN_IF_ERROR(actor.String("ID", &e.id));
  NOVADOCK_RETURN_IF_ERROR(actor.StringMap("Attributes", &e.attributes));
  // Messages of old daemons carry only status and id.
  if (e.action.empty()) NOVADOCK_RETURN_IF_ERROR(r.String("status", &e.action));
  if (e.id.empty()) NOVADOCK_RETURN_IF_ERROR(r.String("id", &e.id));
  if (e.action.empty()) {
    return absl::InternalError(absl::StrCat(kWhat, ": Action is missing"));
  }
  return e;
}

absl::StatusOr<std::string> ParseErrorMessage(absl::string_view json) {
  constexpr absl::string_view kWhat = "docker error response";
  rapidjson::Document doc;
  NOVADOCK_RETURN_IF_ERROR(
      ParseDocument(json, kWhat, rapidjson::kObjectType, doc));
  std::string message;
  NOVADOCK_RETURN_IF_ERROR(
      ObjectReader(&doc, kWhat, "").RequiredString("message", &message));
  return message;
}

absl::Status LogFrameDemuxer::Feed(absl::string_view chunk) {
  while (!chunk.empty() && !stopped_) {
    if (payload_left_ > 0) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(payload_left_, chunk.size()));
      payload_left_ -= n;
      if (!on_payload_(chunk.substr(0, n))) stopped_ = true;
      chunk.remove_prefix(n);
      continue;
    }
    const size_t n = std::min(sizeof(header_) - header_len_, chunk.size());
    std::copy_n(chunk.data(), n, header_ + header_len_);
    header_len_ += n;
    chunk.remove_prefix(n);
    if (header_len_ < sizeof(header_)) break;
    header_len_ = 0;
    ++frame_count_;
    if (header_[0] > 2 || header_[1] != 0 || header_[2] != 0 ||
        header_[3] != 0) {
      return absl::InternalError(absl::StrFormat(
          "docker logs stream: frame %d has a bad header "
          "(%02x %02x %02x %02x); is the container a TTY?",
          frame_count_, header_[0], header_[1], header_[2], header_[3]));
    }
    payload_left_ = (uint64_t{header_[4]} << 24) |
                    (uint64_t{header_[5]} << 16) | (uint64_t{header_[6]} << 8) |
                    uint64_t{header_[7]};
  }
  return absl::OkStatus();
}

absl::Status LogFrameDemuxer::Finish() const {
  if (stopped_ || (header_len_ == 0 && payload_left_ == 0)) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrFormat(
      "docker logs stream: ended inside frame %d (%d header bytes, %d payload "
      "bytes missing)",
      frame_count_ + (header_len_ > 0 ? 1 : 0), header_len_, payload_left_));
}

absl::Status EventStreamDecoder::Feed(absl::string_view chunk) {
  while (!chunk.empty() && !stopped_) {
    const size_t nl = chunk.find('\n');
    if (nl == absl::string_view::npos) {
      if (partial_.size() + chunk.size() > kMaxLineBytes) {
        return absl::InternalError(
            absl::StrCat("docker event stream: message longer than ",
                         kMaxLineBytes, " bytes"));
      }
      partial_.append(chunk.data(), chunk.size());
      break;
    }
    absl::Status s;
    if (partial_.empty()) {
      s = DeliverLine(chunk.substr(0, nl));
    } else {
      partial_.append(chunk.data(), nl);
      s = DeliverLine(partial_);
      partial_.clear();
    }
    NOVADOCK_RETURN_IF_ERROR(s);
    chunk.remove_prefix(nl + 1);
  }
  return absl::OkStatus();
}

absl::Status EventStreamDecoder::DeliverLine(absl::string_view line) {
  line = absl::StripTrailingAsciiWhitespace(line);
  if (line.empty()) return absl::OkStatus();
  NOVADOCK_ASSIGN_OR_RETURN(const DockerEvent event, ParseEvent(line));
  if (!on_event_(event)) stopped_ = true;
  return absl::OkStatus();
}

}  // namespace novadock::agent
