// The one logging facade (Abseil 20220623 has no absl/log). Writes
// "I1123 12:00:00.000000 file.cc:42] message" lines to stderr, for journald.
// Thread-safe. Never log secrets, user_data, env values or request bodies.
#ifndef NOVADOCK_PROTO_COMMON_LOG_H_
#define NOVADOCK_PROTO_COMMON_LOG_H_

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace novadock {

enum class LogSeverity { kInfo, kWarning, kError };

void LogLine(LogSeverity severity, const char* file, int line,
             absl::string_view message);

}  // namespace novadock

#define NOVADOCK_LOG_INFO(...)                                            \
  ::novadock::LogLine(::novadock::LogSeverity::kInfo, __FILE__, __LINE__, \
                      ::absl::StrCat(__VA_ARGS__))
#define NOVADOCK_LOG_WARNING(...)                                            \
  ::novadock::LogLine(::novadock::LogSeverity::kWarning, __FILE__, __LINE__, \
                      ::absl::StrCat(__VA_ARGS__))
#define NOVADOCK_LOG_ERROR(...)                                            \
  ::novadock::LogLine(::novadock::LogSeverity::kError, __FILE__, __LINE__, \
                      ::absl::StrCat(__VA_ARGS__))

#endif  // NOVADOCK_PROTO_COMMON_LOG_H_
