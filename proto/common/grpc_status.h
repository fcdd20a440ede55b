// The one conversion between absl::Status and grpc::Status. Codes map 1:1
// (both follow google.rpc.Code); messages pass through unchanged.
#ifndef NOVADOCK_PROTO_COMMON_GRPC_STATUS_H_
#define NOVADOCK_PROTO_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace novadock {

grpc::Status ToGrpcStatus(const absl::Status& s);
absl::Status FromGrpcStatus(const grpc::Status& s);

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_GRPC_STATUS_H_
