// AgentConnector: how the controller reaches a node's agent. The gRPC
// implementation makes one channel per address, over mutual TLS with the
// controller's client certificate, or plain text only to a loopback address.
#ifndef NOVADOCK_CONTROLLER_AGENT_CONNECTOR_H_
#define NOVADOCK_CONTROLLER_AGENT_CONNECTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/server_security.h"

namespace novadock::controller {

class AgentConnector {
 public:
  virtual ~AgentConnector() = default;
  // A stub for the agent at `address` ("host:port"). Connecting is lazy:
  // errors show on the first call. INVALID_ARGUMENT: plain text to a
  // non-loopback address, or a bad TLS file; NOT_FOUND / PERMISSION_DENIED:
  // a TLS file is missing / unreadable (each names the file). Thread-safe.
  [[nodiscard]] virtual absl::StatusOr<
      std::shared_ptr<novadock::v1::Agent::StubInterface>>
  Connect(const std::string& address) = 0;
};

// One channel per Connect: messages up to 16 MiB, keepalive pings every 30 s
// during calls, reconnect backoff at most 2 s (a returning agent is reached
// by the next check). Thread-safe; stateless beyond its options.
class GrpcAgentConnector final : public AgentConnector {
 public:
  // `tls` empty: plain text (loopback only). Otherwise the controller's
  // client certificate and the CA that signs the agents' certificates.
  explicit GrpcAgentConnector(TlsFiles tls) : tls_(std::move(tls)) {}
  absl::StatusOr<std::shared_ptr<novadock::v1::Agent::StubInterface>> Connect(
      const std::string& address) override;

 private:
  const TlsFiles tls_;
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_AGENT_CONNECTOR_H_
