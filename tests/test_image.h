// Offline test images: built from files on this machine and imported into the
// test dockerd, never pulled (tests have no internet).
#ifndef NOVADOCK_TESTS_TEST_IMAGE_H_
#define NOVADOCK_TESTS_TEST_IMAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "tests/dockerd_fixture.h"

namespace novadock::testing {

inline constexpr char kBusyboxImage[] = "novadock-test:busybox";

// Imports a busybox image as `repo_tag` ("repo[:tag]", tag default "latest")
// into `dockerd` and returns `repo_tag`. The rootfs holds /bin/busybox (copied
// from this machine's /bin/busybox, Debian's busybox-static) with /bin/sh,
// sleep, echo, cat, ls, true, false, yes and top linked to it, /etc/passwd,
// /etc/group and a world-writable /tmp. Idempotent: an existing image of that
// name is returned as is. FAILED_PRECONDITION: no static /bin/busybox.
// INVALID_ARGUMENT: `repo_tag` is not a plain lower-case name. UNAVAILABLE:
// no dockerd. Blocks for the import (about a second).
// REQUIRES: `dockerd` is started.
[[nodiscard]] absl::StatusOr<std::string> ImportBusyboxImage(
    const DockerdFixture& dockerd, const std::string& repo_tag = kBusyboxImage);

// The rootfs tar that ImportBusyboxImage imports (ustar/pax, uncompressed).
// FAILED_PRECONDITION: no /bin/busybox.
[[nodiscard]] absl::StatusOr<std::string> BuildBusyboxRootfsTar();

}  // namespace novadock::testing

#endif  // NOVADOCK_TESTS_TEST_IMAGE_H_
