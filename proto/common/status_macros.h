// Status propagation macros. Debian's Abseil 20220623 has none of its own.
#ifndef NOVADOCK_PROTO_COMMON_STATUS_MACROS_H_
#define NOVADOCK_PROTO_COMMON_STATUS_MACROS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace novadock {

// Returns `s` with "context: " before its message; keeps the code. OK stays OK.
inline absl::Status Annotate(const absl::Status& s, absl::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace novadock

#define NOVADOCK_STATUS_CONCAT_INNER_(a, b) a##b
#define NOVADOCK_STATUS_CONCAT_(a, b) NOVADOCK_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define NOVADOCK_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status novadock_status_ = (expr);            \
    if (!novadock_status_.ok()) return novadock_status_; \
  } while (0)

// `lhs = value of expr` (an absl::StatusOr<T>), or returns its status.
#define NOVADOCK_ASSIGN_OR_RETURN(lhs, expr) \
  NOVADOCK_ASSIGN_OR_RETURN_IMPL_(           \
      NOVADOCK_STATUS_CONCAT_(novadock_statusor_, __LINE__), lhs, expr)
#define NOVADOCK_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return statusor.status();              \
  lhs = std::move(statusor).value()

// For broken invariants only: logs and aborts.
#define NOVADOCK_CHECK(cond) \
  ((cond) ? (void)0          \
          : ::novadock::internal::CheckFailed(#cond, __FILE__, __LINE__))

namespace novadock::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}  // namespace novadock::internal

#endif  // NOVADOCK_PROTO_COMMON_STATUS_MACROS_H_
