// Fuzz target for the Glance v2 image record parser (glance-loader/
// glance_client.h ParseGlanceImage): what GET /v2/images/{id} returned. Any
// body gives an image with an id and a status, or INTERNAL with a message.
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "glance-loader/glance_client.h"
#include "tests/fuzz/fuzz_target.h"

NOVADOCK_FUZZ_TARGET(GlanceJson) {
  using novadock::fuzz::FuzzCheck;
  absl::StatusOr<novadock::loader::GlanceImage> image =
      novadock::loader::ParseGlanceImage(novadock::fuzz::AsText(data, size));
  if (!image.ok()) {
    FuzzCheck(image.status().code() == absl::StatusCode::kInternal,
              "glance record error is not INTERNAL");
    FuzzCheck(!image.status().message().empty(), "error without message");
    return 0;
  }
  FuzzCheck(image->size_bytes >= -1, "negative size");
  (void)novadock::loader::IsGlanceImageId(image->id);
  return 0;
}
