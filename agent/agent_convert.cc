#include "agent/agent_convert.h"

#include "agent/power_state.h"

namespace novadock::agent {
namespace {

int64_t NanosOrZero(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixNanos(t);
}

}  // namespace

InstanceSpec SpecFromProto(const novadock::v1::CreateInstanceRequest& request) {
  InstanceSpec spec;
  spec.uuid = request.uuid();
  spec.name = request.name();
  const auto& image = request.image();
  spec.image.glance_id = image.glance_id();
  spec.image.name = image.name();
  spec.image.checksum = image.checksum();
  spec.image.os_hash_algo = image.os_hash_algo();
  spec.image.os_hash_value = image.os_hash_value();
  spec.image.properties.insert(image.properties().begin(),
                               image.properties().end());
  spec.image.auth_token = request.auth_token();
  spec.flavor.name = request.flavor().name();
  spec.flavor.memory_mb = request.flavor().memory_mb();
  spec.flavor.vcpus = request.flavor().vcpus();
  spec.flavor.disk_gb = request.flavor().disk_gb();
  spec.hostname = request.hostname();
  spec.env.insert(request.env().begin(), request.env().end());
  spec.command.assign(request.command().begin(), request.command().end());
  spec.start = !request.no_start();
  spec.config_drive.insert(request.config_drive().begin(),
                           request.config_drive().end());
  spec.network = request.network().name();
  spec.ipv4_address = request.network().ipv4_address();
  spec.ipv6_address = request.network().ipv6_address();
  spec.mac_address = request.network().mac_address();
  return spec;
}

void InstanceToProto(const InstanceView& view, const std::string& node,
                     novadock::v1::Instance* out) {
  const ContainerDetails& c = view.container;
  out->set_uuid(view.uuid);
  out->set_name(view.name);
  out->set_node(node);
  out->set_container_id(c.id);
  out->set_container_name(c.name);
  out->set_power_state(PowerStateFromDocker(c.state.status));
  out->set_docker_state(c.state.status);
  out->set_exit_code(c.state.exit_code);
  out->set_image(view.image);
  out->set_image_id(c.image_id);
  out->set_hostname(c.hostname);
  for (const ContainerNetwork& n : c.networks) {
    auto* a = out->add_addresses();
    a->set_network(n.name);
    a->set_ipv4_address(n.ipv4_address);
    a->set_ipv6_address(n.ipv6_address);
    a->set_mac_address(n.mac_address);
  }
  for (const ContainerMount& m : c.mounts) {
    // The config drive is the only bind mount an instance can have.
    if (m.type == "bind") out->set_config_drive_mount(m.destination);
  }
  auto* flavor = out->mutable_flavor();
  flavor->set_name(view.flavor.name);
  flavor->set_memory_mb(view.flavor.memory_mb);
  flavor->set_vcpus(view.flavor.vcpus);
  flavor->set_disk_gb(view.flavor.disk_gb);
  auto* limits = out->mutable_limits();
  limits->set_memory_bytes(c.memory_bytes);
  limits->set_memory_swap_bytes(c.memory_swap_bytes);
  limits->set_nano_cpus(c.nano_cpus);
  limits->set_cpu_shares(c.cpu_shares);
  limits->set_pids_limit(c.pids_limit);
  out->set_created_unix_nanos(NanosOrZero(c.created));
  out->set_started_unix_nanos(NanosOrZero(c.state.started_at));
  out->set_finished_unix_nanos(NanosOrZero(c.state.finished_at));
  out->set_orphan(view.orphan);
}

void NodeToProto(const NodeView& view, const RunnerOptions& options,
                 novadock::v1::Node* out) {
  out->set_name(options.node_name);
  out->set_docker_version(view.version.version);
  out->set_docker_api_version(view.version.api_version);
  out->set_kernel_version(view.version.kernel_version);
  out->set_os(view.version.os);
  out->set_architecture(view.version.arch);
  out->set_uptime_seconds(view.uptime_seconds);
  auto* cap = out->mutable_capacity();
  cap->set_memory_mb(view.info.mem_total_bytes >> 20);
  cap->set_vcpus(view.info.ncpu);
  cap->set_disk_gb(view.disk_gb);
  cap->set_instances(options.max_instances);
  auto* use = out->mutable_usage();
  use->set_memory_mb(view.usage.memory_mb);
  use->set_vcpus(static_cast<int32_t>(view.usage.vcpus));
  use->set_disk_gb(view.usage.disk_gb);
  use->set_instances(view.usage.instances);
}

void StatsToProto(const std::string& uuid, const ContainerStats& stats,
                  novadock::v1::InstanceStats* out) {
  out->set_uuid(uuid);
  out->set_cpu_total_nanos(stats.cpu_total_nanos);
  out->set_memory_usage_bytes(stats.memory_usage_bytes);
  out->set_memory_limit_bytes(stats.memory_limit_bytes);
  out->set_pids_current(stats.pids_current);
  out->set_read_unix_nanos(NanosOrZero(stats.read));
}

void ImageListingToProto(const ImageListing& listing,
                         novadock::v1::ListImagesResponse* out) {
  for (const ArchiveView& a : listing.archives) {
    auto* p = out->add_archives();
    p->set_file_name(a.archive.file_name);
    p->set_glance_id(a.glance_id);
    p->set_size_bytes(a.archive.stamp.size_bytes);
    p->set_loaded(a.loaded);
    if (!a.archive.status.ok()) {
      p->set_error(std::string(a.archive.status.message()));
      continue;
    }
    p->mutable_repo_tags()->Assign(a.archive.info.repo_tags.begin(),
                                   a.archive.info.repo_tags.end());
    p->set_image_id(a.archive.info.image_id);
    p->set_sha256(a.archive.info.sha256_hex);
  }
  for (const DockerImageView& i : listing.images) {
    auto* p = out->add_images();
    p->set_image_id(i.image.id);
    p->mutable_repo_tags()->Assign(i.image.repo_tags.begin(),
                                   i.image.repo_tags.end());
    p->mutable_glance_ids()->Assign(i.glance_ids.begin(), i.glance_ids.end());
    p->set_size_bytes(i.image.size_bytes);
    p->mutable_used_by()->Assign(i.used_by.begin(), i.used_by.end());
  }
}

PutHeader PutHeaderFromProto(const novadock::v1::PutImageHeader& header) {
  PutHeader h;
  h.glance_id = header.glance_id();
  h.file_name = header.file_name();
  h.sha256 = header.sha256();
  h.size_bytes = header.size_bytes();
  h.load = !header.no_load();
  h.replace = header.replace();
  return h;
}

void PutResultToProto(const PutResult& result,
                      novadock::v1::PutImageResponse* out) {
  out->set_file_name(result.file_name);
  if (result.loaded.has_value()) {
    out->set_loaded(true);
    out->set_image_id(result.loaded->image_id);
    out->mutable_repo_tags()->Assign(result.loaded->repo_tags.begin(),
                                     result.loaded->repo_tags.end());
    out->set_bytes(result.loaded->bytes);
  }
}

absl::Duration GraceFromProto(int32_t seconds, absl::Duration fallback) {
  return seconds == 0 ? fallback : absl::Seconds(seconds);
}

SnapshotRequest SnapshotFromProto(
    const novadock::v1::SnapshotInstanceRequest& request) {
  SnapshotRequest out;
  out.uuid = request.uuid();
  out.image_name = request.image_name();
  out.glance_image_id = request.glance_image_id();
  out.auth_token = request.auth_token();
  return out;
}

void SnapshotResultToProto(const SnapshotResult& result,
                           novadock::v1::SnapshotInstanceResponse* out) {
  out->set_image_id(result.image_id);
  out->set_archive_file(result.archive_file);
  out->set_size_bytes(result.size_bytes);
  out->set_uploaded(result.uploaded);
}

}  // namespace novadock::agent
