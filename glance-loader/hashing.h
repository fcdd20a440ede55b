// Streaming message digests (md5, sha1, sha256, sha512) over OpenSSL EVP, with
// lower-case hex output. Used to check Glance's `checksum` (md5) and
// `os_hash_value` (`os_hash_algo`, sha512 by default) and Docker's sha256
// digests while the bytes stream past, without keeping them.
//
// A StreamingHasher is not thread-safe: one thread feeds it. It owns its
// EVP_MD_CTX. Errors are sticky: Update() never fails, Finish() reports the
// first OpenSSL failure (INTERNAL).
#ifndef NOVADOCK_GLANCE_LOADER_HASHING_H_
#define NOVADOCK_GLANCE_LOADER_HASHING_H_

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace novadock::loader {

enum class HashAlgorithm { kMd5, kSha1, kSha256, kSha512 };

// "md5", "sha1", "sha256", "sha512": Glance's `os_hash_algo` names.
absl::string_view HashAlgorithmName(HashAlgorithm algo);
// Inverse of HashAlgorithmName (case-insensitive). INVALID_ARGUMENT: unknown
// name (the message lists the supported ones).
[[nodiscard]] absl::StatusOr<HashAlgorithm> ParseHashAlgorithm(
    absl::string_view name);
// Length of the algorithm's hex digest (32, 40, 64, 128).
size_t HexDigestLength(HashAlgorithm algo);
// True if `hex` has HexDigestLength(algo) characters, all [0-9a-f].
bool IsLowerHexDigest(HashAlgorithm algo, absl::string_view hex);

class StreamingHasher {
 public:
  explicit StreamingHasher(HashAlgorithm algo);
  StreamingHasher(StreamingHasher&&) = default;
  StreamingHasher& operator=(StreamingHasher&&) = default;

  HashAlgorithm algorithm() const { return algo_; }
  // Adds `data` to the digest. Ignored after Finish() or a failure.
  void Update(absl::string_view data);
  // The hex digest of everything given to Update(). Call once; later calls
  // return FAILED_PRECONDITION. INTERNAL: OpenSSL failed.
  [[nodiscard]] absl::StatusOr<std::string> Finish();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };

  HashAlgorithm algo_;
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
  absl::Status status_;  // First failure; sticky.
  bool finished_ = false;
};

// The hex digest of `data`. INTERNAL: OpenSSL failed.
[[nodiscard]] absl::StatusOr<std::string> HexDigest(HashAlgorithm algo,
                                                    absl::string_view data);

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_HASHING_H_
