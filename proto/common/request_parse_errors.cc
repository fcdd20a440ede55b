#include "proto/common/request_parse_errors.h"

#include <google/protobuf/stubs/logging.h>

#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace novadock {
namespace {

// The field named by the last UTF-8 parse error on this thread.
thread_local std::string utf8_error_field;

google::protobuf::LogHandler* previous_handler = nullptr;

void RecordingLogHandler(google::protobuf::LogLevel level, const char* filename,
                         int line, const std::string& message) {
  // "String field 'pkg.Message.field' contains invalid UTF-8 data when
  // parsing a protocol buffer. ..."
  constexpr absl::string_view kPrefix = "String field '";
  if (absl::StartsWith(message, kPrefix) &&
      absl::StrContains(message, "invalid UTF-8") &&
      absl::StrContains(message, "parsing")) {
    const size_t end = message.find('\'', kPrefix.size());
    if (end != std::string::npos) {
      utf8_error_field = message.substr(kPrefix.size(), end - kPrefix.size());
    }
  }
  if (previous_handler != nullptr) {
    previous_handler(level, filename, line, message);
  }
}

class ParseErrorInterceptor final : public grpc::experimental::Interceptor {
 public:
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      std::string field = std::exchange(utf8_error_field, std::string());
      // Our services never answer INTERNAL without a message; gRPC does
      // exactly that for a request it could not parse.
      if (status.error_code() == grpc::StatusCode::INTERNAL &&
          status.error_message().empty()) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            field.empty()
                ? "request: cannot be parsed (broken protobuf encoding)"
                : absl::StrCat(field,
                               ": not valid UTF-8 (string fields must be "
                               "UTF-8; the request was refused unparsed)")));
      }
    }
    methods->Proceed();
  }
};

class ParseErrorInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new ParseErrorInterceptor();
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRequestParseErrorInterceptorFactory() {
  static std::once_flag once;
  std::call_once(once, [] {
    previous_handler = google::protobuf::SetLogHandler(&RecordingLogHandler);
  });
  return std::make_unique<ParseErrorInterceptorFactory>();
}

std::string TakeUtf8ErrorFieldForTest() {
  return std::exchange(utf8_error_field, std::string());
}

}  // namespace novadock
