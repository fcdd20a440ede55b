// FakeGlanceClient: a GlanceClient over images kept in memory, for tests.
// It keeps state as Glance does (records and data), checks ids and returns
// the codes glance_client.h promises, lets a test inject errors per
// operation, cut a download short, hold downloads until released, and reads
// back a record of the calls made. Upload() moves a queued image to active.
//
// Thread-safe. Download() calls the sink without holding the fake's lock.
#ifndef NOVADOCK_GLANCE_LOADER_FAKE_GLANCE_CLIENT_H_
#define NOVADOCK_GLANCE_LOADER_FAKE_GLANCE_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "glance-loader/glance_client.h"

namespace novadock::loader {

class FakeGlanceClient final : public GlanceClient {
 public:
  enum class Op { kGetImage, kDownload, kUpload };

  // An active image (container_format docker, disk_format raw) whose size,
  // checksum (md5) and os_hash (sha512) describe `data`.
  [[nodiscard]] static GlanceImage ActiveImageFor(absl::string_view id,
                                                  absl::string_view data);

  // Adds or replaces image `image.id` with this record and data. The record
  // is stored as given: a test may make it disagree with the data.
  void PutImage(GlanceImage image, std::string data);
  // PutImage(ActiveImageFor(id, data), data); returns the record.
  GlanceImage AddActiveImage(absl::string_view id, std::string data);
  void RemoveImage(absl::string_view id);
  // Adds a queued image without data (as POST /v2/images), ready for Upload.
  void AddQueuedImage(absl::string_view id);
  // The data of image `id` ("" if none or no such image).
  std::string DataForTest(absl::string_view id) const;

  // Every later call of `op` fails with `status` until this is called again
  // with OK.
  void InjectError(Op op, absl::Status status);
  // Downloads of `id` deliver only the first `bytes` bytes and return OK
  // (as a server closing early without the client noticing would).
  void TruncateDownload(absl::string_view id, size_t bytes);
  // Download() sends data in chunks of this many bytes (default 64 KiB). > 0.
  void SetChunkBytes(size_t bytes);

  // While held, Download() blocks (after being counted) until released.
  void HoldDownloads();
  void ReleaseDownloads();
  // Waits until at least `n` Download() calls have started, at most
  // `timeout`. True if they have.
  bool AwaitDownloadCalls(int n, absl::Duration timeout);

  int get_image_calls() const;
  int download_calls() const;
  int upload_calls() const;
  // Tokens passed, in call order, so a test can check they were forwarded.
  std::vector<std::string> tokens() const;

  absl::StatusOr<GlanceImage> GetImage(absl::string_view id,
                                       absl::string_view token) override;
  absl::Status Download(absl::string_view id, absl::string_view token,
                        const DownloadSink& sink) override;
  // Reads the whole reader (unlocked), then stores the data in a queued
  // image and makes it active with ActiveImageFor's size and digests. A
  // non-queued image is FAILED_PRECONDITION and is left unchanged.
  absl::Status Upload(absl::string_view id, absl::string_view token,
                      const UploadReader& reader, int64_t size_bytes) override;

 private:
  struct StoredImage {
    GlanceImage record;
    std::string data;
    int64_t truncate_bytes = -1;  // -1: deliver everything.
  };

  mutable absl::Mutex mu_;  // Guards every member below.
  std::map<std::string, StoredImage, std::less<>> images_ ABSL_GUARDED_BY(mu_);
  std::map<Op, absl::Status> errors_ ABSL_GUARDED_BY(mu_);
  size_t chunk_bytes_ ABSL_GUARDED_BY(mu_) = 64 << 10;
  bool hold_downloads_ ABSL_GUARDED_BY(mu_) = false;
  int get_image_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int download_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int upload_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_FAKE_GLANCE_CLIENT_H_
