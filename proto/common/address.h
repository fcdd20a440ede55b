// Network address helpers shared by servers and clients. No gRPC.
#ifndef NOVADOCK_PROTO_COMMON_ADDRESS_H_
#define NOVADOCK_PROTO_COMMON_ADDRESS_H_

#include "absl/strings/string_view.h"

namespace novadock {

// True if `address` ("host:port", "[v6]:port", "unix:...", with an optional
// ipv4:/ipv6:/dns: scheme) can only be reached from this machine:
// 127.0.0.0/8, ::1, localhost, or a unix socket. Pure; thread-safe.
bool IsLoopbackAddress(absl::string_view address);

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_ADDRESS_H_
