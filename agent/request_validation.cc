#include "agent/request_validation.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/common/status_macros.h"
#include "proto/common/uuid.h"

namespace novadock::agent {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Valid UTF-8 without NUL or control characters (newline, tab and carriage
// return allowed when `allow_newlines`).
bool IsCleanText(absl::string_view s, bool allow_newlines) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == 0x7f) return false;
      if (c < 0x20 &&
          !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'))) {
        return false;
      }
      ++i;
      continue;
    }
    size_t extra = 0;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
    } else {
      return false;
    }
    if (c == 0xc0 || c == 0xc1 || c > 0xf4 || i + extra >= s.size()) {
      return false;
    }
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

absl::Status ValidateText(absl::string_view field, absl::string_view value,
                          size_t max_bytes, bool allow_newlines) {
  if (value.size() > max_bytes) {
    return Invalid(field, absl::StrCat("longer than ", max_bytes, " bytes (",
                                       value.size(), ")"));
  }
  if (!IsCleanText(value, allow_newlines)) {
    return Invalid(field, "must be UTF-8 without control characters or NUL");
  }
  return absl::OkStatus();
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == '-';
}

absl::Status ValidateInstanceName(absl::string_view value) {
  if (value.empty())
    return Invalid("name", "required (the Nova instance name)");
  if (value.size() > 255) return Invalid("name", "longer than 255 bytes");
  for (char c : value) {
    if (!IsNameChar(c)) {
      return Invalid("name", "may contain only letters, digits, '.', '_', '-'");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHostname(absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  if (value.size() > 63) return Invalid("hostname", "longer than 63 bytes");
  for (absl::string_view label : absl::StrSplit(value, '.')) {
    if (label.empty() || label.front() == '-' || label.back() == '-') {
      return Invalid("hostname",
                     "labels must be non-empty and not start or end with '-'");
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return Invalid("hostname",
                       "may contain only letters, digits, '-', '.'");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateImage(const novadock::v1::ImageRef& image) {
  if (image.glance_id().empty() && image.name().empty()) {
    return Invalid("image", "glance_id or name is required");
  }
  if (!image.glance_id().empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        ValidateUuid("image.glance_id", image.glance_id()));
  }
  NOVADOCK_RETURN_IF_ERROR(
      ValidateText("image.name", image.name(), 255, false));
  const absl::string_view name = image.name();
  if (absl::StartsWith(name, "/") || absl::StartsWith(name, "../") ||
      absl::EndsWith(name, "/..") || name == ".." ||
      absl::StrContains(name, "/../")) {
    return Invalid("image.name",
                   "must not be a path (leading '/' or '..' segments)");
  }
  if (!image.checksum().empty() &&
      (image.checksum().size() != 32 || !IsHex(image.checksum()))) {
    return Invalid("image.checksum", "must be 32 hex digits (md5)");
  }
  const std::string& algo = image.os_hash_algo();
  if (!(algo.empty() || algo == "md5" || algo == "sha1" || algo == "sha256" ||
        algo == "sha384" || algo == "sha512")) {
    return Invalid("image.os_hash_algo",
                   "must be one of md5, sha1, sha256, sha384, sha512");
  }
  if (image.os_hash_value().size() > 128 || !IsHex(image.os_hash_value())) {
    return Invalid("image.os_hash_value", "must be at most 128 hex digits");
  }
  if (image.os_hash_value().empty() != algo.empty()) {
    return Invalid("image.os_hash_value",
                   "os_hash_algo and os_hash_value come together");
  }
  if (static_cast<size_t>(image.properties_size()) > kMaxImageProperties) {
    return Invalid("image.properties",
                   absl::StrCat("more than ", kMaxImageProperties, " entries"));
  }
  for (const auto& [key, value] : image.properties()) {
    const std::string field = absl::StrCat("image.properties[", key, "]");
    NOVADOCK_RETURN_IF_ERROR(
        ValidateText("image.properties key", key, 255, false));
    NOVADOCK_RETURN_IF_ERROR(ValidateText(field, value, 65535, true));
  }
  return absl::OkStatus();
}

absl::Status ValidateFlavor(const novadock::v1::Flavor& flavor) {
  NOVADOCK_RETURN_IF_ERROR(
      ValidateText("flavor.name", flavor.name(), 255, false));
  if (flavor.memory_mb() < kMinMemoryMb || flavor.memory_mb() > kMaxMemoryMb) {
    return Invalid("flavor.memory_mb",
                   absl::StrCat(flavor.memory_mb(), " is outside ",
                                kMinMemoryMb, "..", kMaxMemoryMb, " MiB"));
  }
  if (flavor.vcpus() < 1 || flavor.vcpus() > kMaxVcpus) {
    return Invalid("flavor.vcpus",
                   absl::StrCat(flavor.vcpus(), " is outside 1..", kMaxVcpus));
  }
  if (flavor.disk_gb() < 0 || flavor.disk_gb() > kMaxDiskGb) {
    return Invalid(
        "flavor.disk_gb",
        absl::StrCat(flavor.disk_gb(), " is outside 0..", kMaxDiskGb));
  }
  return absl::OkStatus();
}

absl::Status ValidateEnv(
    const google::protobuf::Map<std::string, std::string>& env) {
  if (env.size() > kMaxEnvEntries) {
    return Invalid("env",
                   absl::StrCat("more than ", kMaxEnvEntries, " entries"));
  }
  size_t total = 0;
  for (const auto& [key, value] : env) {
    const bool key_ok =
        !key.empty() && key.size() <= 255 &&
        (absl::ascii_isalpha(static_cast<unsigned char>(key[0])) ||
         key[0] == '_') &&
        std::all_of(key.begin(), key.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
        });
    if (!key_ok) {
      return Invalid("env", "keys must match [A-Za-z_][A-Za-z0-9_]{0,254}");
    }
    // Values are never echoed back: they may hold secrets.
    NOVADOCK_RETURN_IF_ERROR(ValidateText(absl::StrCat("env[", key, "]"), value,
                                          kMaxArgBytes, true));
    total += key.size() + value.size();
  }
  if (total > kMaxTotalArgBytes) {
    return Invalid("env", absl::StrCat("larger than ", kMaxTotalArgBytes,
                                       " bytes in all"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCommand(
    const google::protobuf::RepeatedPtrField<std::string>& command) {
  if (static_cast<size_t>(command.size()) > kMaxCommandArgs) {
    return Invalid("command",
                   absl::StrCat("more than ", kMaxCommandArgs, " arguments"));
  }
  size_t total = 0;
  for (int i = 0; i < command.size(); ++i) {
    NOVADOCK_RETURN_IF_ERROR(ValidateText(absl::StrCat("command[", i, "]"),
                                          command[i], kMaxArgBytes, true));
    total += command[i].size();
  }
  if (!command.empty() && command[0].empty()) {
    return Invalid("command[0]", "must not be empty");
  }
  if (total > kMaxTotalArgBytes) {
    return Invalid("command", absl::StrCat("larger than ", kMaxTotalArgBytes,
                                           " bytes in all"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMetadata(
    const google::protobuf::Map<std::string, std::string>& metadata) {
  if (metadata.size() > kMaxMetadataEntries) {
    return Invalid("metadata",
                   absl::StrCat("more than ", kMaxMetadataEntries, " entries"));
  }
  for (const auto& [key, value] : metadata) {
    NOVADOCK_RETURN_IF_ERROR(ValidateText("metadata key", key, 255, false));
    if (key.empty()) return Invalid("metadata key", "must not be empty");
    NOVADOCK_RETURN_IF_ERROR(
        ValidateText(absl::StrCat("metadata[", key, "]"), value, 255, true));
  }
  return absl::OkStatus();
}

// A relative path of [A-Za-z0-9._-]{1,255} components, none "." or "..".
absl::Status ValidateDrivePath(absl::string_view field,
                               absl::string_view path) {
  if (path.empty() || path.size() > kMaxConfigDrivePathBytes) {
    return Invalid(field, absl::StrCat("path must be 1..",
                                       kMaxConfigDrivePathBytes, " bytes"));
  }
  int depth = 0;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == ".." ||
        !std::all_of(part.begin(), part.end(), IsNameChar)) {
      return Invalid(field,
                     "must be a relative path of components of letters, "
                     "digits, '.', '_', '-' (no empty, '.' or '..' "
                     "component, no leading '/')");
    }
    ++depth;
  }
  if (depth > kMaxConfigDriveDepth) {
    return Invalid(field, absl::StrCat("deeper than ", kMaxConfigDriveDepth,
                                       " components"));
  }
  return absl::OkStatus();
}

absl::Status ValidateConfigDrive(
    const google::protobuf::Map<std::string, std::string>& files) {
  if (files.size() > kMaxConfigDriveFiles) {
    return Invalid("config_drive",
                   absl::StrCat("more than ", kMaxConfigDriveFiles, " files"));
  }
  std::vector<absl::string_view> paths;
  size_t total = 0;
  for (const auto& [path, bytes] : files) {
    // The path may be hostile: it is named only once it is known clean.
    NOVADOCK_RETURN_IF_ERROR(ValidateText("config_drive key", path,
                                          kMaxConfigDrivePathBytes, false));
    const std::string field = absl::StrCat("config_drive[", path, "]");
    NOVADOCK_RETURN_IF_ERROR(ValidateDrivePath(field, path));
    if (bytes.size() > kMaxConfigDriveFileBytes) {
      return Invalid(field, absl::StrCat("larger than ",
                                         kMaxConfigDriveFileBytes, " bytes"));
    }
    total += bytes.size();
    paths.push_back(path);
  }
  if (total > kMaxConfigDriveBytes) {
    return Invalid(
        "config_drive",
        absl::StrCat("larger than ", kMaxConfigDriveBytes, " bytes in all"));
  }
  // "a" and "a/b" cannot both be files.
  std::sort(paths.begin(), paths.end());
  for (size_t i = 0; i + 1 < paths.size(); ++i) {
    if (absl::StartsWith(paths[i + 1], absl::StrCat(paths[i], "/"))) {
      return Invalid(absl::StrCat("config_drive[", paths[i + 1], "]"),
                     absl::StrCat("is inside ", paths[i], ", which is a file"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNetwork(const novadock::v1::NetworkAttachment& network) {
  const std::string& name = network.name();
  if (name.empty()) {
    if (!network.ipv4_address().empty() || !network.ipv6_address().empty() ||
        !network.mac_address().empty()) {
      return Invalid("network.name", "required when an address is given");
    }
    return absl::OkStatus();
  }
  const bool name_ok =
      name.size() <= 128 &&
      absl::ascii_isalnum(static_cast<unsigned char>(name[0])) &&
      std::all_of(name.begin(), name.end(), IsNameChar);
  if (!name_ok) {
    return Invalid("network.name",
                   "must be a Docker network name [A-Za-z0-9][A-Za-z0-9._-]"
                   "{0,127}");
  }
  if (name == "host" || name == "none" || name == "bridge" ||
      name == "default") {
    return Invalid("network.name",
                   absl::StrCat("'", name,
                                "' is not allowed: give a user-defined "
                                "network (host networking is never used)"));
  }
  if (!network.ipv4_address().empty()) {
    in_addr v4{};
    if (network.ipv4_address().size() > 15 ||
        inet_pton(AF_INET, network.ipv4_address().c_str(), &v4) != 1) {
      return Invalid("network.ipv4_address", "must be a dotted IPv4 address");
    }
  }
  if (!network.ipv6_address().empty()) {
    in6_addr v6{};
    if (network.ipv6_address().size() > 45 ||
        inet_pton(AF_INET6, network.ipv6_address().c_str(), &v6) != 1) {
      return Invalid("network.ipv6_address", "must be an IPv6 address");
    }
  }
  const std::string& mac = network.mac_address();
  if (!mac.empty()) {
    bool ok = mac.size() == 17;
    for (size_t i = 0; ok && i < mac.size(); ++i) {
      ok = (i % 3 == 2)
               ? mac[i] == ':'
               : absl::ascii_isxdigit(static_cast<unsigned char>(mac[i]));
    }
    // The I/G bit of the first octet: a multicast MAC cannot be a NIC's.
    if (ok && (std::stoi(mac.substr(0, 2), nullptr, 16) & 1) != 0) {
      return Invalid("network.mac_address", "must be a unicast MAC address");
    }
    if (!ok) {
      return Invalid("network.mac_address",
                     "must be six hex pairs separated by ':'");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUuid(absl::string_view field, absl::string_view value) {
  if (value.empty()) return Invalid(field, "required (a Nova instance uuid)");
  const bool ok = IsLowercaseUuid(value);
  if (!ok) {
    return Invalid(field,
                   "must be a lowercase uuid like "
                   "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b");
  }
  return absl::OkStatus();
}

absl::Status ValidateCreateInstance(
    const novadock::v1::CreateInstanceRequest& request) {
  NOVADOCK_RETURN_IF_ERROR(ValidateUuid("uuid", request.uuid()));
  NOVADOCK_RETURN_IF_ERROR(ValidateInstanceName(request.name()));
  if (!request.has_image()) return Invalid("image", "required");
  NOVADOCK_RETURN_IF_ERROR(ValidateImage(request.image()));
  if (!request.has_flavor()) return Invalid("flavor", "required");
  NOVADOCK_RETURN_IF_ERROR(ValidateFlavor(request.flavor()));
  NOVADOCK_RETURN_IF_ERROR(ValidateHostname(request.hostname()));
  NOVADOCK_RETURN_IF_ERROR(ValidateEnv(request.env()));
  NOVADOCK_RETURN_IF_ERROR(ValidateCommand(request.command()));
  NOVADOCK_RETURN_IF_ERROR(ValidateMetadata(request.metadata()));
  NOVADOCK_RETURN_IF_ERROR(ValidateConfigDrive(request.config_drive()));
  NOVADOCK_RETURN_IF_ERROR(ValidateNetwork(request.network()));
  return ValidateAuthToken("auth_token", request.auth_token());
}

absl::Status ValidateAuthToken(absl::string_view field,
                               absl::string_view token) {
  return ValidateText(field, token, kMaxAuthTokenBytes,
                      /*allow_newlines=*/false);
}

absl::Status ValidateGracePeriod(absl::string_view field, int32_t seconds) {
  if (seconds < 0 || seconds > kMaxGracePeriodSeconds) {
    return Invalid(field, absl::StrCat(seconds, " is outside 0..",
                                       kMaxGracePeriodSeconds, " seconds"));
  }
  return absl::OkStatus();
}

absl::Status ValidateConsoleRequest(
    const novadock::v1::GetConsoleOutputRequest& request) {
  NOVADOCK_RETURN_IF_ERROR(ValidateUuid("uuid", request.uuid()));
  if (request.max_bytes() < 0 || request.max_bytes() > kMaxConsoleBytes) {
    return Invalid(
        "max_bytes",
        absl::StrCat(request.max_bytes(), " is outside 0..", kMaxConsoleBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateSnapshotRequest(
    const novadock::v1::SnapshotInstanceRequest& request) {
  NOVADOCK_RETURN_IF_ERROR(ValidateUuid("uuid", request.uuid()));
  if (!request.glance_image_id().empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        ValidateUuid("glance_image_id", request.glance_image_id()));
  }
  const std::string& name = request.image_name();
  if (!name.empty()) {
    const size_t slash = name.rfind('/');
    const size_t colon = name.rfind(':');
    const bool has_tag = colon != std::string::npos &&
                         (slash == std::string::npos || colon > slash);
    const absl::string_view tag =
        has_tag ? absl::string_view(name).substr(colon + 1) : "latest";
    if (!IsDockerReference(name) || absl::StrContains(name, '@') ||
        absl::EndsWith(name, "/") || tag.empty() || tag.size() > 128 ||
        tag[0] == '.' || tag[0] == '-') {
      return Invalid("image_name",
                     "must be a Docker reference repo[:tag] (lowercase "
                     "repository, no digest)");
    }
  }
  return ValidateAuthToken("auth_token", request.auth_token());
}

bool IsDockerReference(absl::string_view ref) {
  if (ref.empty() || ref.size() > 255) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(ref[0]))) return false;
  for (char c : ref) {
    const bool ok = absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '.' || c == '_' || c == '-' || c == '/' || c == ':' ||
                    c == '@';
    if (!ok) return false;
  }
  if (ref.find("..") != absl::string_view::npos ||
      ref.find("//") != absl::string_view::npos) {
    return false;
  }
  // The repository path (before any tag or digest) is lowercase.
  absl::string_view path = ref.substr(0, ref.find('@'));
  size_t slash = path.rfind('/');
  size_t colon = path.rfind(':');
  if (colon != absl::string_view::npos &&
      (slash == absl::string_view::npos || colon > slash)) {
    path = path.substr(0, colon);
  }
  for (char c : path) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

}  // namespace novadock::agent
