// Checks of the Controller's request fields that the controller makes
// itself, before it looks for an instance or adds flavor sizes up (the
// agent checks every field it receives, naming it). Each returns OK or
// INVALID_ARGUMENT whose message starts with the field's name. Pure
// functions; thread-safe.
#ifndef NOVADOCK_CONTROLLER_REQUEST_CHECKS_H_
#define NOVADOCK_CONTROLLER_REQUEST_CHECKS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "novadock/v1/controller.pb.h"

namespace novadock::controller {

// A lowercase 8-4-4-4-12 uuid.
[[nodiscard]] absl::Status CheckUuid(absl::string_view field,
                                     absl::string_view uuid);
// A node name (1-63 of [A-Za-z0-9._-]); empty allowed unless `required`.
[[nodiscard]] absl::Status CheckNodeName(absl::string_view field,
                                         absl::string_view name, bool required);
// grace_period_seconds: 0 (the agent's default) .. 3600.
[[nodiscard]] absl::Status CheckGrace(int32_t seconds);
// An InstanceCallRequest: uuid, optional node hint, grace period.
[[nodiscard]] absl::Status CheckCall(
    const novadock::v1::InstanceCallRequest& r);
// A caller's token: <= 8 KiB, no control characters (an HTTP header).
[[nodiscard]] absl::Status CheckToken(absl::string_view token);
// A snapshot's image_name: empty, or lowercase reference characters
// without ".." or a leading '/' (the agent checks the reference in full).
[[nodiscard]] absl::Status CheckImageName(absl::string_view name);
// instance.flavor sizes within proto/common/request_limits.h.
[[nodiscard]] absl::Status CheckFlavor(const novadock::v1::Flavor& f);
// A plain file name of [A-Za-z0-9._-] in the image directory.
[[nodiscard]] absl::Status CheckFileName(absl::string_view name);

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_REQUEST_CHECKS_H_
