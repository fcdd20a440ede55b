#include "proto/common/grpc_status.h"

#include <string>

namespace novadock {
namespace {

#define NOVADOCK_SAME_CODE(absl_code, grpc_code)                   \
  static_assert(static_cast<int>(absl::StatusCode::absl_code) ==   \
                    static_cast<int>(grpc::StatusCode::grpc_code), \
                #absl_code " differs between absl and gRPC")
NOVADOCK_SAME_CODE(kOk, OK);
NOVADOCK_SAME_CODE(kCancelled, CANCELLED);
NOVADOCK_SAME_CODE(kUnknown, UNKNOWN);
NOVADOCK_SAME_CODE(kInvalidArgument, INVALID_ARGUMENT);
NOVADOCK_SAME_CODE(kDeadlineExceeded, DEADLINE_EXCEEDED);
NOVADOCK_SAME_CODE(kNotFound, NOT_FOUND);
NOVADOCK_SAME_CODE(kAlreadyExists, ALREADY_EXISTS);
NOVADOCK_SAME_CODE(kPermissionDenied, PERMISSION_DENIED);
NOVADOCK_SAME_CODE(kResourceExhausted, RESOURCE_EXHAUSTED);
NOVADOCK_SAME_CODE(kFailedPrecondition, FAILED_PRECONDITION);
NOVADOCK_SAME_CODE(kAborted, ABORTED);
NOVADOCK_SAME_CODE(kOutOfRange, OUT_OF_RANGE);
NOVADOCK_SAME_CODE(kUnimplemented, UNIMPLEMENTED);
NOVADOCK_SAME_CODE(kInternal, INTERNAL);
NOVADOCK_SAME_CODE(kUnavailable, UNAVAILABLE);
NOVADOCK_SAME_CODE(kDataLoss, DATA_LOSS);
NOVADOCK_SAME_CODE(kUnauthenticated, UNAUTHENTICATED);
#undef NOVADOCK_SAME_CODE

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace novadock
