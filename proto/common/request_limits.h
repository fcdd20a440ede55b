// Request limits shared by the agent's validation and the controller's
// (which checks them before it looks for the instance or adds flavor sizes
// up for placement). Documented in docs/agent.md.
#ifndef NOVADOCK_PROTO_COMMON_REQUEST_LIMITS_H_
#define NOVADOCK_PROTO_COMMON_REQUEST_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace novadock {

inline constexpr int64_t kMinMemoryMb = 6;  // Docker refuses less than 6 MiB.
inline constexpr int64_t kMaxMemoryMb = int64_t{16} << 20;  // 16 TiB.
inline constexpr int32_t kMaxVcpus = 1024;
inline constexpr int64_t kMaxDiskGb = int64_t{1} << 20;  // 1 PiB.
inline constexpr int32_t kMaxGracePeriodSeconds = 3600;
inline constexpr int64_t kMaxConsoleBytes = int64_t{1} << 20;
inline constexpr size_t kMaxAuthTokenBytes = 8 << 10;

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_REQUEST_LIMITS_H_
