// The channel settings every novadock gRPC server shares.
#ifndef NOVADOCK_PROTO_COMMON_SERVER_BUILDER_H_
#define NOVADOCK_PROTO_COMMON_SERVER_BUILDER_H_

#include <grpcpp/server_builder.h>

namespace novadock {

// Applies novadock's server defaults to `builder`:
//  - SO_REUSEPORT off: a second server on a port already taken fails to
//    start (gRPC's default would let two agents share the port and split
//    the connections between them, and lets two port-0 binds land on the
//    same port);
//  - clients' 30 s keepalive pings on idle streams (WatchEvents) are
//    accepted rather than answered with GOAWAY "too_many_pings";
//  - requests up to `max_receive_bytes` (larger: RESOURCE_EXHAUSTED);
//  - a request that cannot be parsed (e.g. a string field that is not
//    UTF-8) is INVALID_ARGUMENT naming the field, not gRPC's bare INTERNAL
//    (request_parse_errors.h).
void ApplyServerDefaults(grpc::ServerBuilder& builder, int max_receive_bytes);

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_SERVER_BUILDER_H_
