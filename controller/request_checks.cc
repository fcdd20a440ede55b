#include "controller/request_checks.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/node_registry.h"
#include "proto/common/request_limits.h"
#include "proto/common/status_macros.h"
#include "proto/common/uuid.h"

namespace novadock::controller {

absl::Status CheckUuid(absl::string_view field, absl::string_view uuid) {
  if (!IsLowercaseUuid(uuid)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a lowercase uuid"));
  }
  return absl::OkStatus();
}

// `name` of a node: required, or (!required) empty for "any".
absl::Status CheckNodeName(absl::string_view field, absl::string_view name,
                           bool required) {
  if ((name.empty() && !required) || IsValidNodeName(name)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, name.empty() ? ": required, " : ": must be ",
                   "a node name of 1-63 [A-Za-z0-9._-]"));
}

absl::Status CheckGrace(int32_t seconds) {
  if (seconds < 0 || seconds > kMaxGracePeriodSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("grace_period_seconds: ", seconds, " is outside 0..",
                     kMaxGracePeriodSeconds, " (0: the agent's default)"));
  }
  return absl::OkStatus();
}

// An InstanceCallRequest: uuid, optional node hint, grace period.
absl::Status CheckCall(const novadock::v1::InstanceCallRequest& r) {
  NOVADOCK_RETURN_IF_ERROR(CheckUuid("uuid", r.uuid()));
  NOVADOCK_RETURN_IF_ERROR(CheckNodeName("node", r.node(), false));
  return CheckGrace(r.grace_period_seconds());
}

absl::Status CheckToken(absl::string_view token) {
  const bool ok = token.size() <= kMaxAuthTokenBytes &&
                  std::all_of(token.begin(), token.end(),
                              [](char c) { return c >= 0x20 && c != 0x7f; });
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "auth_token: at most ", kMaxAuthTokenBytes,
        " bytes without control characters (it becomes an HTTP header)"));
  }
  return absl::OkStatus();
}

// The agent checks the Docker reference in full; this keeps paths and
// control characters from going further.
absl::Status CheckImageName(absl::string_view name) {
  const bool ok = name.size() <= 255 && !absl::StrContains(name, "..") &&
                  !absl::StartsWith(name, "/") &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
                           (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
                           c == '-' || c == '/' || c == ':';
                  });
  if (!ok) {
    return absl::InvalidArgumentError(
        "image_name: must be a Docker reference repo[:tag] (lowercase)");
  }
  return absl::OkStatus();
}

// The sizes placement adds up (the agent checks every other field).
absl::Status CheckFlavor(const novadock::v1::Flavor& f) {
  if (f.memory_mb() < kMinMemoryMb || f.memory_mb() > kMaxMemoryMb) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance.flavor.memory_mb: ", f.memory_mb(),
                     " is outside ", kMinMemoryMb, "..", kMaxMemoryMb));
  }
  if (f.vcpus() < 1 || f.vcpus() > kMaxVcpus) {
    return absl::InvalidArgumentError(absl::StrCat(
        "instance.flavor.vcpus: ", f.vcpus(), " is outside 1..", kMaxVcpus));
  }
  if (f.disk_gb() < 0 || f.disk_gb() > kMaxDiskGb) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance.flavor.disk_gb: ", f.disk_gb(),
                     " is outside 0..", kMaxDiskGb));
  }
  return absl::OkStatus();
}

absl::Status CheckFileName(absl::string_view name) {
  const bool ok = !name.empty() && name.size() <= 255 && name[0] != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                           c == '.' || c == '_' || c == '-';
                  });
  if (!ok) {
    return absl::InvalidArgumentError(
        "file_name: a plain file name of [A-Za-z0-9._-] in the image "
        "directory");
  }
  return absl::OkStatus();
}

}  // namespace novadock::controller
