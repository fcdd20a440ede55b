// The container contract of DESIGN.md: names, label keys and image tags,
// each defined once. Only containers carrying kLabelInstanceUuid and
// kLabelNode == this node are ever listed, touched or removed.
#ifndef NOVADOCK_AGENT_CONTAINER_LABELS_H_
#define NOVADOCK_AGENT_CONTAINER_LABELS_H_

namespace novadock::agent {

// Container name = kContainerNamePrefix + instance uuid.
inline constexpr char kContainerNamePrefix[] = "nova-";

inline constexpr char kLabelInstanceUuid[] = "org.openstack.nova.instance-uuid";
inline constexpr char kLabelInstanceName[] = "org.openstack.nova.instance-name";
inline constexpr char kLabelNode[] = "io.novadock.node";
inline constexpr char kLabelImage[] = "io.novadock.image";
inline constexpr char kLabelFlavor[] = "io.novadock.flavor";
inline constexpr char kLabelCreatedBy[] = "io.novadock.created-by";
// Flavor sizes, so that node usage is computed from a container list alone.
inline constexpr char kLabelMemoryMb[] = "io.novadock.memory-mb";
inline constexpr char kLabelVcpus[] = "io.novadock.vcpus";
inline constexpr char kLabelDiskGb[] = "io.novadock.disk-gb";

inline constexpr char kCreatedByAgent[] = "novadock-agent";

// "true" when the create asked for a start (not no_start): such a container
// still in Docker's "created" state was left by an interrupted create (an
// orphan, see OrphanReaper). Containers without the label are never orphans.
inline constexpr char kLabelStartOnCreate[] = "io.novadock.start-on-create";

// Images loaded for a Glance image are tagged kGlanceImageRepo:<glance id>.
inline constexpr char kGlanceImageRepo[] = "novadock/glance";

// Snapshots (SnapshotInstance) are committed as kSnapshotImageRepo:<tag>
// unless named, labelled kLabelSnapshotOf=<instance uuid>, and archived as
// kSnapshotArchivePrefix<uuid>-<unix seconds>.tar without a Glance id.
inline constexpr char kSnapshotImageRepo[] = "novadock/snapshot";
inline constexpr char kLabelSnapshotOf[] = "io.novadock.snapshot-of";
inline constexpr char kSnapshotArchivePrefix[] = "snapshot-";

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_CONTAINER_LABELS_H_
