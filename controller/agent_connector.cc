#include "controller/agent_connector.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "proto/common/status_macros.h"

namespace novadock::controller {
namespace {

constexpr int kMaxMessageBytes = 16 << 20;
// A ping every 30 s while calls (event streams) are open finds a dead peer;
// it gives up 10 s after an unanswered ping.
constexpr int kKeepaliveTimeMs = 30'000;
constexpr int kKeepaliveTimeoutMs = 10'000;
// Retry a lost agent at most every 2 s, so one that comes back is reached
// by the next health check rather than minutes later.
constexpr int kInitialReconnectBackoffMs = 500;
constexpr int kMaxReconnectBackoffMs = 2'000;

grpc::ChannelArguments AgentChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  return args;
}

}  // namespace

absl::StatusOr<std::shared_ptr<novadock::v1::Agent::StubInterface>>
GrpcAgentConnector::Connect(const std::string& address) {
  if (address.empty()) {
    return absl::InvalidArgumentError("agent address is empty");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(address, tls_);
  if (!credentials.ok()) {
    return Annotate(credentials.status(), "agent " + address);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, *credentials, AgentChannelArguments());
  return std::shared_ptr<novadock::v1::Agent::StubInterface>(
      novadock::v1::Agent::NewStub(channel));
}

}  // namespace novadock::controller
