#include "proto/common/server_builder.h"

#include <grpc/impl/codegen/grpc_types.h>

namespace novadock {

void ApplyServerDefaults(grpc::ServerBuilder& builder, int max_receive_bytes) {
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.SetMaxReceiveMessageSize(max_receive_bytes);
}

}  // namespace novadock
