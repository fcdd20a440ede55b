// Bad request encodings become INVALID_ARGUMENT naming the field.
//
// gRPC answers a request it cannot parse with INTERNAL and an empty message;
// proto3 string fields must be UTF-8, so a request with a non-UTF-8 string
// is such a request. Protobuf names the offending field only in its log
// ("String field 'novadock.v1.ImageRef.name' contains invalid UTF-8 ...").
// The interceptor made here rewrites that INTERNAL into INVALID_ARGUMENT
// "novadock.v1.ImageRef.name: not valid UTF-8 ..." (the field protobuf
// logged while parsing on the serving thread), or "request: cannot be
// parsed ..." when protobuf named none. Other statuses pass unchanged.
// Thread-safe; installs a protobuf log handler once (forwarding every
// message to the previous handler).
#ifndef NOVADOCK_PROTO_COMMON_REQUEST_PARSE_ERRORS_H_
#define NOVADOCK_PROTO_COMMON_REQUEST_PARSE_ERRORS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

namespace novadock {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRequestParseErrorInterceptorFactory();

// The field of the last UTF-8 error protobuf logged on this thread, and
// forgets it; empty if none. Exposed for tests.
std::string TakeUtf8ErrorFieldForTest();

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_REQUEST_PARSE_ERRORS_H_
