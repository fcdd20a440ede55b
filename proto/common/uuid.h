// The one check of Nova/Glance uuids: 8-4-4-4-12 lowercase hex digits.
#ifndef NOVADOCK_PROTO_COMMON_UUID_H_
#define NOVADOCK_PROTO_COMMON_UUID_H_

#include "absl/strings/string_view.h"

namespace novadock {

// True for "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b"; uppercase is refused so
// that one uuid has one spelling (container names, file names, tags).
inline bool IsLowercaseUuid(absl::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_UUID_H_
