#include "glance-loader/hashing.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace novadock::loader {
namespace {

const EVP_MD* MdFor(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::kMd5:
      return EVP_md5();
    case HashAlgorithm::kSha1:
      return EVP_sha1();
    case HashAlgorithm::kSha256:
      return EVP_sha256();
    case HashAlgorithm::kSha512:
      return EVP_sha512();
  }
  return nullptr;
}

}  // namespace

absl::string_view HashAlgorithmName(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::kMd5:
      return "md5";
    case HashAlgorithm::kSha1:
      return "sha1";
    case HashAlgorithm::kSha256:
      return "sha256";
    case HashAlgorithm::kSha512:
      return "sha512";
  }
  return "unknown";
}

absl::StatusOr<HashAlgorithm> ParseHashAlgorithm(absl::string_view name) {
  for (HashAlgorithm algo : {HashAlgorithm::kMd5, HashAlgorithm::kSha1,
                             HashAlgorithm::kSha256, HashAlgorithm::kSha512}) {
    if (absl::EqualsIgnoreCase(name, HashAlgorithmName(algo))) return algo;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported hash algorithm \"", name,
                   "\"; supported: md5, sha1, sha256, sha512"));
}

size_t HexDigestLength(HashAlgorithm algo) {
  switch (algo) {
    case HashAlgorithm::kMd5:
      return 32;
    case HashAlgorithm::kSha1:
      return 40;
    case HashAlgorithm::kSha256:
      return 64;
    case HashAlgorithm::kSha512:
      return 128;
  }
  return 0;
}

bool IsLowerHexDigest(HashAlgorithm algo, absl::string_view hex) {
  if (hex.size() != HexDigestLength(algo)) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

StreamingHasher::StreamingHasher(HashAlgorithm algo)
    : algo_(algo), ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) {
    status_ = absl::InternalError("EVP_MD_CTX_new failed");
  } else if (EVP_DigestInit_ex(ctx_.get(), MdFor(algo), nullptr) != 1) {
    status_ = absl::InternalError(absl::StrCat(
        "EVP_DigestInit_ex(", HashAlgorithmName(algo), ") failed"));
  }
}

void StreamingHasher::Update(absl::string_view data) {
  if (finished_ || !status_.ok() || data.empty()) return;
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
    status_ = absl::InternalError(absl::StrCat(
        "EVP_DigestUpdate(", HashAlgorithmName(algo_), ") failed"));
  }
}

absl::StatusOr<std::string> StreamingHasher::Finish() {
  if (finished_) {
    return absl::FailedPreconditionError("digest already finished");
  }
  finished_ = true;
  if (!status_.ok()) return status_;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), md, &md_len) != 1) {
    return absl::InternalError(absl::StrCat(
        "EVP_DigestFinal_ex(", HashAlgorithmName(algo_), ") failed"));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), md_len));
}

absl::StatusOr<std::string> HexDigest(HashAlgorithm algo,
                                      absl::string_view data) {
  StreamingHasher hasher(algo);
  hasher.Update(data);
  return hasher.Finish();
}

}  // namespace novadock::loader
