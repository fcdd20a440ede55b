#include "proto/common/server_security.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proto/common/client_identity.h"
#include "proto/common/status_macros.h"

namespace novadock {
namespace {

constexpr size_t kMaxPemBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::Status CheckCertificatePem(absl::string_view what,
                                 const std::string& path,
                                 const std::string& pem) {
  auto bio = MemBio(pem);
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": not a PEM certificate"));
  }
  return absl::OkStatus();
}

// Checks the key parses and belongs to the first certificate in cert_pem.
absl::Status CheckKeyPem(const TlsFiles& tls, const std::string& cert_pem,
                         const std::string& key_pem) {
  auto key_bio = MemBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  auto cert_bio = MemBio(cert_pem);
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS key ", tls.key_file, ": not a PEM private key (or encrypted)"));
  }
  if (cert != nullptr && X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key ", tls.key_file, ": does not match certificate ",
                     tls.cert_file));
  }
  return absl::OkStatus();
}

struct LoadedTls {
  std::string ca, cert, key;
};

absl::StatusOr<LoadedTls> LoadTls(absl::string_view address,
                                  const TlsFiles& tls) {
  if (tls.ca_file.empty() || tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS for ", address,
        ": CA, certificate and key must all be given (mutual TLS); got ca='",
        tls.ca_file, "' cert='", tls.cert_file, "' key='", tls.key_file, "'"));
  }
  LoadedTls out;
  NOVADOCK_ASSIGN_OR_RETURN(out.ca, ReadSmallFile("TLS CA", tls.ca_file));
  NOVADOCK_ASSIGN_OR_RETURN(out.cert,
                            ReadSmallFile("TLS certificate", tls.cert_file));
  NOVADOCK_ASSIGN_OR_RETURN(out.key, ReadSmallFile("TLS key", tls.key_file));
  NOVADOCK_RETURN_IF_ERROR(CheckCertificatePem("TLS CA", tls.ca_file, out.ca));
  NOVADOCK_RETURN_IF_ERROR(
      CheckCertificatePem("TLS certificate", tls.cert_file, out.cert));
  NOVADOCK_RETURN_IF_ERROR(CheckKeyPem(tls, out.cert, out.key));
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReadSmallFile(absl::string_view what,
                                          const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string reason = std::strerror(err);
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(what, " ", path, ": ", reason));
    }
    return absl::PermissionDeniedError(
        absl::StrCat(what, " ", path, ": cannot open: ", reason));
  }
  std::string data(kMaxPemBytes + 1, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  if (data.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": larger than 1 MiB"));
  }
  return data;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    absl::string_view address, const TlsFiles& tls,
    const std::vector<std::string>& allowed_client_names) {
  if (!allowed_client_names.empty()) {
    NOVADOCK_RETURN_IF_ERROR(ValidateClientNames(allowed_client_names));
    if (tls.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address ", address,
          ": allowed client names need mutual TLS (client certificates); "
          "pass --tls_ca, --tls_cert and --tls_key"));
    }
  }
  if (tls.empty()) {
    if (!IsLoopbackAddress(address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address ", address,
          " is not loopback: mutual TLS is required there; pass --tls_ca, "
          "--tls_cert and --tls_key (deployment/make-certs.sh makes them)"));
    }
    return grpc::InsecureServerCredentials();
  }
  NOVADOCK_ASSIGN_OR_RETURN(LoadedTls loaded, LoadTls(address, tls));
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = loaded.ca;
  options.pem_key_cert_pairs.push_back({loaded.key, loaded.cert});
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::SslServerCredentials(options);
  if (!allowed_client_names.empty()) {
    credentials->SetAuthMetadataProcessor(
        std::make_shared<ClientNameAuthorizer>(
            allowed_client_names, absl::StrCat("server ", address)));
  }
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(absl::string_view address, const TlsFiles& tls) {
  if (tls.empty()) {
    if (!IsLoopbackAddress(address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address ", address,
          " is not loopback: mutual TLS is required; give CA, certificate "
          "and key"));
    }
    return grpc::InsecureChannelCredentials();
  }
  NOVADOCK_ASSIGN_OR_RETURN(LoadedTls loaded, LoadTls(address, tls));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = loaded.ca;
  options.pem_private_key = loaded.key;
  options.pem_cert_chain = loaded.cert;
  return grpc::SslCredentials(options);
}

}  // namespace novadock
