// Transport security for novadock's gRPC servers and clients: mutual TLS
// with a deployment CA, or plain text only when the address is loopback.
#ifndef NOVADOCK_PROTO_COMMON_SERVER_SECURITY_H_
#define NOVADOCK_PROTO_COMMON_SERVER_SECURITY_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/common/address.h"

namespace novadock {

// PEM file paths. All empty = plain text.
struct TlsFiles {
  std::string ca_file;    // CA that signs the peer's certificate.
  std::string cert_file;  // Our certificate chain.
  std::string key_file;   // Our private key.
  bool empty() const {
    return ca_file.empty() && cert_file.empty() && key_file.empty();
  }
};

// Credentials for a server listening on `address`. With TLS files: mutual
// TLS requiring a client certificate signed by ca_file. Without:
// INVALID_ARGUMENT unless `address` is loopback. A missing file: NOT_FOUND;
// unreadable: PERMISSION_DENIED; not PEM, or a key that does not match the
// certificate: INVALID_ARGUMENT. Each message names the file and the reason.
// A non-empty `allowed_client_names` admits only clients whose certificate
// carries one of those names (proto/common/client_identity.h); it needs TLS
// files (INVALID_ARGUMENT without) and valid names (INVALID_ARGUMENT).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    absl::string_view address, const TlsFiles& tls,
    const std::vector<std::string>& allowed_client_names = {});

// Client credentials to reach `address`, under the same rules.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(absl::string_view address, const TlsFiles& tls);

// Reads a whole small file (certificates, keys). NOT_FOUND / PERMISSION_DENIED
// / INVALID_ARGUMENT (over 1 MiB) naming `what` and the path.
absl::StatusOr<std::string> ReadSmallFile(absl::string_view what,
                                          const std::string& path);

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_SERVER_SECURITY_H_
