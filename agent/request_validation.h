// Validation of every field of every novadock.v1.Agent request. Each check
// returns INVALID_ARGUMENT with a message that starts with the field's path
// ("flavor.memory_mb: ...") and says what is allowed. Pure functions;
// thread-safe.
#ifndef NOVADOCK_AGENT_REQUEST_VALIDATION_H_
#define NOVADOCK_AGENT_REQUEST_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "novadock/v1/agent.pb.h"
#include "proto/common/request_limits.h"

namespace novadock::agent {

// Limits, documented in docs/agent.md; the flavor's, grace period's,
// console's and token's are shared with the controller
// (proto/common/request_limits.h).
using ::novadock::kMaxConsoleBytes;
using ::novadock::kMaxDiskGb;
using ::novadock::kMaxGracePeriodSeconds;
using ::novadock::kMaxMemoryMb;
using ::novadock::kMaxVcpus;
using ::novadock::kMinMemoryMb;
inline constexpr size_t kMaxEnvEntries = 256;
inline constexpr size_t kMaxCommandArgs = 256;
inline constexpr size_t kMaxArgBytes = 32 << 10;
inline constexpr size_t kMaxTotalArgBytes = 256 << 10;
inline constexpr size_t kMaxMetadataEntries = 128;
inline constexpr size_t kMaxImageProperties = 128;
using ::novadock::kMaxAuthTokenBytes;
inline constexpr size_t kMaxConfigDriveFiles = 64;
inline constexpr size_t kMaxConfigDriveFileBytes = 1 << 20;
inline constexpr size_t kMaxConfigDriveBytes = 3 << 20;  // Under gRPC's 4 MiB.
inline constexpr size_t kMaxConfigDrivePathBytes = 1024;
inline constexpr int kMaxConfigDriveDepth = 8;

// A Nova uuid: 8-4-4-4-12 lowercase hex digits.
[[nodiscard]] absl::Status ValidateUuid(absl::string_view field,
                                        absl::string_view value);

[[nodiscard]] absl::Status ValidateCreateInstance(
    const novadock::v1::CreateInstanceRequest& request);
[[nodiscard]] absl::Status ValidateGracePeriod(absl::string_view field,
                                               int32_t seconds);
[[nodiscard]] absl::Status ValidateConsoleRequest(
    const novadock::v1::GetConsoleOutputRequest& request);
// uuid; glance_image_id a uuid or empty; image_name a Docker reference
// repo[:tag] without digest, or empty; auth_token <= kMaxAuthTokenBytes
// without control characters.
// A caller's keystone token: <= kMaxAuthTokenBytes, no control characters
// (it becomes an HTTP header). Empty is OK.
[[nodiscard]] absl::Status ValidateAuthToken(absl::string_view field,
                                             absl::string_view token);
[[nodiscard]] absl::Status ValidateSnapshotRequest(
    const novadock::v1::SnapshotInstanceRequest& request);

// True if `ref` is a Docker image reference we may pass to Docker:
// [registry[:port]/]path[:tag][@sha256:hex], lowercase path, <= 255 bytes.
bool IsDockerReference(absl::string_view ref);

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_REQUEST_VALIDATION_H_
