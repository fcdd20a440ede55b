// Conversions between novadock.v1 messages and the agent's domain types.
// Pure functions; thread-safe. Inputs must already be validated.
#ifndef NOVADOCK_AGENT_AGENT_CONVERT_H_
#define NOVADOCK_AGENT_AGENT_CONVERT_H_

#include <string>

#include "agent/image_store.h"
#include "agent/instance_runner.h"
#include "agent/snapshotter.h"
#include "novadock/v1/agent.pb.h"

namespace novadock::agent {

InstanceSpec SpecFromProto(const novadock::v1::CreateInstanceRequest& request);
void InstanceToProto(const InstanceView& view, const std::string& node,
                     novadock::v1::Instance* out);
void NodeToProto(const NodeView& view, const RunnerOptions& options,
                 novadock::v1::Node* out);
void StatsToProto(const std::string& uuid, const ContainerStats& stats,
                  novadock::v1::InstanceStats* out);

void ImageListingToProto(const ImageListing& listing,
                         novadock::v1::ListImagesResponse* out);
PutHeader PutHeaderFromProto(const novadock::v1::PutImageHeader& header);
void PutResultToProto(const PutResult& result,
                      novadock::v1::PutImageResponse* out);

SnapshotRequest SnapshotFromProto(
    const novadock::v1::SnapshotInstanceRequest& request);
void SnapshotResultToProto(const SnapshotResult& result,
                           novadock::v1::SnapshotInstanceResponse* out);

// 0 -> `fallback`; otherwise seconds.
absl::Duration GraceFromProto(int32_t seconds, absl::Duration fallback);

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_AGENT_CONVERT_H_
