// Which client identities a mutual-TLS server admits. With an allow-list,
// a client must present a certificate (already verified against the CA by
// the TLS handshake) that is meant for clients (extended key usage
// clientAuth, or none) and whose subject CN or one of whose
// subjectAltNames is on the list; any other call is refused with
// PERMISSION_DENIED before it reaches a service, and the server logs the
// identity it refused (names only, never key material).
//
// Thread-safe: gRPC calls Process on its own threads.
#ifndef NOVADOCK_PROTO_COMMON_CLIENT_IDENTITY_H_
#define NOVADOCK_PROTO_COMMON_CLIENT_IDENTITY_H_

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace novadock {

// The names a client certificate carries, for checks and log lines.
struct ClientIdentity {
  std::string common_name;  // Subject CN; empty if none.
  // subjectAltNames as gRPC reports them (DNS names; IPs and URIs too).
  std::vector<std::string> alt_names;
  bool client_usage = false;  // EKU allows clientAuth (or has no EKU).
  // "CN=controller SAN=[controller]" (or "no client certificate").
  std::string ToString() const;
};

// Reads the peer's certificate from a call's auth context.
ClientIdentity ClientIdentityOf(const grpc::AuthContext& context);

// INVALID_ARGUMENT naming the entry unless every name is
// [A-Za-z0-9._-]{1,253} (what deployment/make-certs.sh issues); also if
// the list is empty.
[[nodiscard]] absl::Status ValidateClientNames(
    const std::vector<std::string>& names);

class ClientNameAuthorizer final : public grpc::AuthMetadataProcessor {
 public:
  // REQUIRES: ValidateClientNames(allowed).ok(). `server` names this server
  // in log lines ("novadock-agent 10.0.0.5:50051").
  ClientNameAuthorizer(const std::vector<std::string>& allowed,
                       std::string server);

  // OK iff the identity is allowed (see the file comment); the decision
  // never blocks.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

  // The decision alone: OK or PERMISSION_DENIED naming the identity.
  [[nodiscard]] absl::Status Check(const ClientIdentity& identity) const;

 private:
  const absl::flat_hash_set<std::string> allowed_;
  const std::string server_;
  // Refusals per identity, so that a client retrying in a loop logs a line
  // at the 1st, 2nd, 4th, 8th, ... refusal instead of every time.
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> refusals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_CLIENT_IDENTITY_H_
