#include "proto/common/client_identity.h"

#include <grpc/grpc_security_constants.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/common/grpc_status.h"
#include "proto/common/log.h"

namespace novadock {
namespace {

constexpr size_t kMaxNameBytes = 253;

std::vector<std::string> Values(const grpc::AuthContext& context,
                                const char* property) {
  std::vector<std::string> out;
  for (const grpc::string_ref& v : context.FindPropertyValues(property)) {
    out.emplace_back(v.data(), v.size());
  }
  return out;
}

// True if the PEM certificate may be used by a TLS client: an extended key
// usage that includes clientAuth, or none at all (any usage).
bool AllowsClientUsage(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return false;
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  ERR_clear_error();
  if (cert == nullptr) return false;
  const uint32_t flags = X509_get_extension_flags(cert.get());
  if ((flags & EXFLAG_XKUSAGE) == 0) return true;
  return (X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT) != 0;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

std::string ClientIdentity::ToString() const {
  if (common_name.empty() && alt_names.empty()) return "no client certificate";
  std::string out = absl::StrCat("CN=", common_name.empty() ? "(none)" : "",
                                 absl::CHexEscape(common_name));
  if (!alt_names.empty()) {
    std::vector<std::string> escaped;
    for (const std::string& n : alt_names) {
      escaped.push_back(absl::CHexEscape(n));
    }
    absl::StrAppend(&out, " SAN=[", absl::StrJoin(escaped, ","), "]");
  }
  if (!client_usage) absl::StrAppend(&out, " (not a client certificate)");
  return out;
}

ClientIdentity ClientIdentityOf(const grpc::AuthContext& context) {
  ClientIdentity identity;
  std::vector<std::string> cn = Values(context, GRPC_X509_CN_PROPERTY_NAME);
  if (!cn.empty()) identity.common_name = cn.front();
  identity.alt_names = Values(context, GRPC_X509_SAN_PROPERTY_NAME);
  std::vector<std::string> pem =
      Values(context, GRPC_X509_PEM_CERT_PROPERTY_NAME);
  identity.client_usage = !pem.empty() && AllowsClientUsage(pem.front());
  return identity;
}

absl::Status ValidateClientNames(const std::vector<std::string>& names) {
  if (names.empty()) {
    return absl::InvalidArgumentError("allowed client names: list is empty");
  }
  for (const std::string& name : names) {
    bool ok = !name.empty() && name.size() <= kMaxNameBytes;
    for (char c : name) ok = ok && IsNameChar(c);
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "allowed client name \"", absl::CHexEscape(name.substr(0, 64)),
          "\": want 1-253 of [A-Za-z0-9._-] (a certificate's CN or DNS "
          "name)"));
    }
  }
  return absl::OkStatus();
}

ClientNameAuthorizer::ClientNameAuthorizer(
    const std::vector<std::string>& allowed, std::string server)
    : allowed_(allowed.begin(), allowed.end()), server_(std::move(server)) {}

absl::Status ClientNameAuthorizer::Check(const ClientIdentity& identity) const {
  if (identity.client_usage) {
    if (allowed_.contains(identity.common_name)) return absl::OkStatus();
    for (const std::string& name : identity.alt_names) {
      if (allowed_.contains(name)) return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "client ", identity.ToString(), " is not allowed to call this server"));
}

grpc::Status ClientNameAuthorizer::Process(
    const InputMetadata& /*auth_metadata*/, grpc::AuthContext* context,
    OutputMetadata* /*consumed_auth_metadata*/,
    OutputMetadata* /*response_metadata*/) {
  const ClientIdentity identity = ClientIdentityOf(*context);
  absl::Status s = Check(identity);
  if (s.ok()) return grpc::Status::OK;
  uint64_t count = 0;
  {
    absl::MutexLock lock(&mu_);
    count = ++refusals_[identity.ToString()];
  }
  if ((count & (count - 1)) == 0) {  // 1, 2, 4, 8, ...
    NOVADOCK_LOG_WARNING(server_, ": refused client ", identity.ToString(),
                         ": not in --tls_allowed_client_names (", count,
                         count == 1 ? " call)" : " calls)");
  }
  return ToGrpcStatus(s);
}

}  // namespace novadock
