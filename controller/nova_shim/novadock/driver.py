"""NovaDockDriver: a Nova compute driver whose instances are Docker
containers on the docker nodes of novadock-controller.

nova.conf:  compute_driver = novadock.driver.NovaDockDriver  (Nova imports
``nova.virt.novadock.driver``) plus a [novadock] section (conf.py).

One nova-compute service manages every docker node of its controller, like
the ironic driver manages many baremetal nodes: get_available_nodes() is the
controller's node list, and each node is one Nova compute node and placement
resource provider. Every call is one unary gRPC call on the controller made
through eventlet.tpool (client.py); lifecycle events come from a green
thread long-polling the controller (events.py).

Not supported (NotImplementedError, and the capabilities say so): resize,
migration, evacuate, volumes, rescue, suspend/resume, interface attach.
Config drive: every instance (or, with always_config_drive=False, those
Nova requires one for) gets the openstack/latest files (configdrive.py) as a
read-only directory. Networking: none (loopback only) unless [novadock]
docker_network names a user-defined Docker network; then the container joins
it with the first fixed IP and MAC of its Neutron port.
"""

import json
import platform
import re
import shlex

from oslo_log import log as logging

import nova.conf
from nova.compute import power_state
from nova.compute import task_states
from nova import exception
from nova.objects import fields as obj_fields
from nova.virt import driver
from nova.virt import hardware

from nova.virt.novadock import client as nd_client
from nova.virt.novadock import conf as nd_conf
from nova.virt.novadock import configdrive as nd_configdrive
from nova.virt.novadock import events as nd_events
from nova.virt.novadock._proto import agent_pb2
from nova.virt.novadock._proto import controller_pb2
from nova.virt.novadock._proto import types_pb2

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF
nd_conf.register_opts(CONF)

POWER_STATES = {
    types_pb2.POWER_STATE_RUNNING: power_state.RUNNING,
    types_pb2.POWER_STATE_PAUSED: power_state.PAUSED,
    types_pb2.POWER_STATE_SHUTDOWN: power_state.SHUTDOWN,
    types_pb2.POWER_STATE_CRASHED: power_state.CRASHED,
    types_pb2.POWER_STATE_UNSPECIFIED: power_state.NOSTATE,
}

# Instance metadata / Glance image property names (README.md).
ENV_PREFIX = 'novadock_env_'
COMMAND_KEY = 'novadock_command'
# Glance's custom properties reach the driver only as system metadata
# 'image_<property>' (image_meta.properties drops unknown keys).
SYSMETA_IMAGE_PREFIX = 'image_'
_NOT_IMAGE_PROPERTIES = frozenset((
    'base_image_ref', 'min_ram', 'min_disk', 'disk_format',
    'container_format', 'image_location', 'image_state', 'owner_id',
    'user_id', 'owner_user_name', 'owner_project_name'))

_HOSTNAME_RE = re.compile(r'^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?'
                          r'(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$')
_VERSION_RE = re.compile(r'(\d+)(?:\.(\d+))?(?:\.(\d+))?')
_MAX_GRACE = 3600


def _docker_version_int(version):
    """'20.10.24+dfsg1' -> 20010024 (Nova's convert_version_to_int form)."""
    m = _VERSION_RE.search(version or '')
    if not m:
        return 0
    major, minor, patch = (int(x or 0) for x in m.groups())
    return major * 1000000 + minor * 1000 + patch


def _host_arch():
    try:
        return obj_fields.Architecture.canonicalize(platform.machine())
    except exception.InvalidArchitectureName:
        return obj_fields.Architecture.X86_64


def _grace(seconds):
    """A grace period for the agent: 0 means "the agent's default" there,
    so a forced stop asks for 1 s."""
    return max(1, min(int(seconds or 0), _MAX_GRACE))


class NovaDockDriver(driver.ComputeDriver):
    """Nova's calls as unary calls on novadock-controller."""

    # Every key of ComputeDriver.capabilities, answered honestly.
    capabilities = {
        'has_imagecache': False,
        'supports_evacuate': False,
        'supports_migrate_to_same_host': False,
        'supports_attach_interface': False,
        'supports_device_tagging': False,
        'supports_tagged_attach_interface': False,
        'supports_tagged_attach_volume': False,
        'supports_extend_volume': False,
        'supports_multiattach': False,
        'supports_trusted_certs': False,
        'supports_pcpus': False,
        'supports_accelerators': False,
        'supports_bfv_rescue': False,
        'supports_vtpm': False,
        'supports_secure_boot': False,
        'supports_socket_pci_numa_affinity': False,
        'supports_remote_managed_ports': False,
        'supports_ephemeral_encryption': False,
        'supports_ephemeral_encryption_luks': False,
        'supports_ephemeral_encryption_plain': False,
        # Glance images for novadock are docker-save archives registered
        # with container_format=docker, disk_format=raw.
        'supports_image_type_raw': True,
        'supports_image_type_aki': False,
        'supports_image_type_ami': False,
        'supports_image_type_ari': False,
        'supports_image_type_iso': False,
        'supports_image_type_qcow2': False,
        'supports_image_type_vdi': False,
        'supports_image_type_vhd': False,
        'supports_image_type_vhdx': False,
        'supports_image_type_vmdk': False,
        'supports_image_type_ploop': False,
    }

    def __init__(self, virtapi, read_only=False):
        super(NovaDockDriver, self).__init__(virtapi)
        self._client_obj = None
        self._poller = None
        self._node_cache = []
        self._image_api_obj = None

    # ------------------------------------------------------------------
    # plumbing

    @property
    def conf(self):
        return CONF.novadock

    @property
    def _client(self):
        if self._client_obj is None:
            self._client_obj = nd_client.ControllerClient(self.conf)
        return self._client_obj

    @property
    def _image_api(self):
        if self._image_api_obj is None:
            from nova.image import glance
            self._image_api_obj = glance.API()
        return self._image_api_obj

    @staticmethod
    def _node_hint(instance):
        """instance.node, if set: the controller tries it first."""
        if 'node' not in instance:
            return ''
        return instance.node or ''

    # ------------------------------------------------------------------
    # host

    def init_host(self, host):
        client = self._client  # ConfigError for plain text off loopback.
        try:
            nodes = client.list_nodes()
        except exception.NovaException as e:
            raise exception.HypervisorUnavailable(
                message='novadock-controller at %s is not reachable: %s' %
                        (client.address, e), host=client.address)
        self._node_cache = [n.name for n in nodes]
        LOG.info('novadock-controller %s: %d docker node(s): %s',
                 client.address, len(nodes), ', '.join(self._node_cache))
        if self._poller is None:
            self._poller = nd_events.EventPoller(
                client, self.emit_event, wait_ms=self.conf.event_poll_wait_ms,
                wants_node=self._manages)
            self._poller.start()

    def cleanup_host(self, host):
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self._client_obj is not None:
            self._client_obj.close()
            self._client_obj = None

    def _manages(self, node_name):
        """Whether `node_name` is one of this service's nodes ([novadock]
        nodes; empty: all)."""
        return not self.conf.nodes or node_name in self.conf.nodes

    def _nodes(self):
        return {n.name: n for n in self._client.list_nodes()
                if self._manages(n.name)}

    def get_available_nodes(self, refresh=False):
        try:
            names = [n.name for n in self._client.list_nodes()
                     if self._manages(n.name)]
        except exception.HypervisorUnavailable:
            # An empty list would make Nova delete every compute node as
            # an orphan: answer with the last list we saw, if any.
            if not self._node_cache:
                raise
            LOG.warning('novadock-controller unreachable: reporting the '
                        'last known nodes %s', self._node_cache)
            return list(self._node_cache)
        self._node_cache = names
        return list(names)

    def node_is_available(self, nodename):
        return nodename in self.get_available_nodes(refresh=True)

    def _node(self, nodename):
        node = self._nodes().get(nodename)
        if node is None:
            raise exception.ComputeHostNotFound(host=nodename)
        return node

    def get_available_resource(self, nodename):
        node = self._node(nodename)
        cap, used = node.capacity, node.usage
        arch = _host_arch()
        cpu_info = {
            'arch': arch,
            'model': 'docker',
            'vendor': 'novadock',
            'topology': {'sockets': 1, 'cores': max(1, cap.vcpus),
                         'threads': 1},
            'features': [],
        }
        return {
            'vcpus': cap.vcpus,
            'memory_mb': cap.memory_mb,
            'local_gb': cap.disk_gb,
            'vcpus_used': used.vcpus,
            'memory_mb_used': used.memory_mb,
            'local_gb_used': used.disk_gb,
            'hypervisor_type': obj_fields.HVType.DOCKER,
            'hypervisor_version': _docker_version_int(node.docker_version),
            'hypervisor_hostname': nodename,
            'cpu_info': json.dumps(cpu_info),
            'disk_available_least': max(0, cap.disk_gb - used.disk_gb),
            'numa_topology': None,
            'supported_instances': [(arch, obj_fields.HVType.DOCKER,
                                     obj_fields.VMMode.EXE)],
        }

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        node = self._node(nodename)
        inv = provider_tree.data(nodename).inventory
        nova_ratios = self._get_allocation_ratios(inv)
        ratios = {
            'VCPU': self.conf.cpu_allocation_ratio or nova_ratios['VCPU'],
            'MEMORY_MB': (self.conf.ram_allocation_ratio or
                          nova_ratios['MEMORY_MB']),
            'DISK_GB': (self.conf.disk_allocation_ratio or
                        nova_ratios['DISK_GB']),
        }
        totals = {'VCPU': node.capacity.vcpus,
                  'MEMORY_MB': node.capacity.memory_mb,
                  'DISK_GB': node.capacity.disk_gb}
        reserved = {'VCPU': self.conf.reserved_host_vcpus,
                    'MEMORY_MB': self.conf.reserved_host_memory_mb,
                    'DISK_GB': self.conf.reserved_host_disk_gb}
        # Only an ACTIVE node takes new instances: on a draining, drained
        # or failed one everything is reserved, so placement picks another
        # node while existing allocations stay valid.
        closed = node.state != controller_pb2.NODE_STATE_ACTIVE
        inventory = {}
        for rc, total in totals.items():
            if total <= 0:
                if rc in inv:  # Capacity unknown now: keep the last one.
                    inventory[rc] = dict(inv[rc])
                    if closed:
                        inventory[rc]['reserved'] = inventory[rc]['total']
                continue
            inventory[rc] = {
                'total': total,
                'min_unit': 1,
                'max_unit': total,
                'step_size': 1,
                'allocation_ratio': ratios[rc],
                'reserved': total if closed else min(reserved[rc], total),
            }
        provider_tree.update_inventory(nodename, inventory)

    def get_host_uptime(self):
        parts = []
        for node in self._client.list_nodes():
            s = node.uptime_seconds
            parts.append('%s up %d days, %02d:%02d' %
                         (node.name, s // 86400, s % 86400 // 3600,
                          s % 3600 // 60))
        return '; '.join(parts) or 'no docker nodes'

    def get_host_ip_addr(self):
        return CONF.my_ip

    # ------------------------------------------------------------------
    # instances

    def _image_ref(self, image_meta, instance):
        ref = types_pb2.ImageRef()
        if 'id' in image_meta and image_meta.id:
            ref.glance_id = image_meta.id
        if 'name' in image_meta and image_meta.name:
            ref.name = image_meta.name
        if 'checksum' in image_meta and image_meta.checksum:
            ref.checksum = image_meta.checksum
        sysmeta = instance.system_metadata or {}
        algo = (getattr(image_meta, 'os_hash_algo', None) or
                sysmeta.get('image_os_hash_algo'))
        value = (getattr(image_meta, 'os_hash_value', None) or
                 sysmeta.get('image_os_hash_value'))
        if algo and value:
            ref.os_hash_algo, ref.os_hash_value = algo, value
        for key, val in sysmeta.items():
            if not key.startswith(SYSMETA_IMAGE_PREFIX) or val is None:
                continue
            prop = key[len(SYSMETA_IMAGE_PREFIX):]
            if prop in _NOT_IMAGE_PROPERTIES or prop.startswith('os_hash_'):
                continue
            ref.properties[prop] = str(val)
        return ref

    @staticmethod
    def _env_and_command(instance):
        """The container's environment and command (README.md):
        image property novadock_env_<NAME> then instance metadata
        novadock_env_<NAME> (which wins) -> NAME; novadock_command from the
        instance metadata, else the image: a JSON list of strings, or a
        shell-quoted string split like a shell would."""
        sysmeta = instance.system_metadata or {}
        metadata = instance.metadata or {}
        env = {}
        image_prefix = SYSMETA_IMAGE_PREFIX + ENV_PREFIX
        for key in sorted(sysmeta):
            if key.startswith(image_prefix) and len(key) > len(image_prefix):
                env[key[len(image_prefix):]] = str(sysmeta[key])
        for key in sorted(metadata):
            if key.startswith(ENV_PREFIX) and len(key) > len(ENV_PREFIX):
                env[key[len(ENV_PREFIX):]] = str(metadata[key])
        raw = metadata.get(COMMAND_KEY)
        if raw is None:
            raw = sysmeta.get(SYSMETA_IMAGE_PREFIX + COMMAND_KEY)
        command = []
        if raw:
            raw = str(raw).strip()
            try:
                if raw.startswith('['):
                    command = json.loads(raw)
                    if not all(isinstance(a, str) for a in command):
                        raise ValueError('not a list of strings')
                else:
                    command = shlex.split(raw)
            except ValueError as e:
                raise exception.InvalidInput(
                    reason='%s: %s' % (COMMAND_KEY, e))
        return env, command

    def _create_request(self, context, instance, image_meta, power_on):
        flavor = instance.flavor
        req = agent_pb2.CreateInstanceRequest(
            uuid=instance.uuid, name=instance.name, no_start=not power_on)
        req.image.CopyFrom(self._image_ref(image_meta, instance))
        req.flavor.name = flavor.name or ''
        sizes = (('memory_mb', flavor.memory_mb), ('vcpus', flavor.vcpus),
                 ('disk_gb', (flavor.root_gb or 0) +
                  (flavor.ephemeral_gb or 0)))
        for field, value in sizes:
            try:  # protobuf refuses values beyond the field's integer type.
                setattr(req.flavor, field, value)
            except (TypeError, ValueError) as e:
                raise exception.InvalidInput(
                    reason='instance.flavor.%s: %s' % (field, e))
        hostname = instance.hostname if 'hostname' in instance else None
        if hostname and _HOSTNAME_RE.match(hostname):
            req.hostname = hostname
        env, command = self._env_and_command(instance)
        req.env.update(env)
        req.command.extend(command)
        for key, val in (instance.metadata or {}).items():
            req.metadata[key] = '' if val is None else str(val)
        token = getattr(context, 'auth_token', None) if context else None
        if token:
            req.auth_token = token
        return req

    def _wants_config_drive(self, instance):
        if self.conf.always_config_drive:
            return True
        from nova.virt import configdrive as nova_configdrive
        return bool(nova_configdrive.required_by(instance))

    def _attach_network(self, req, instance, network_info):
        if not self.conf.docker_network:
            if network_info:
                LOG.debug('novadock: [novadock] docker_network is not set: '
                          'the container has loopback only',
                          instance=instance)
            return
        req.network.name = self.conf.docker_network
        v4, v6, mac = nd_configdrive.first_addresses(network_info)
        req.network.ipv4_address, req.network.ipv6_address = v4, v6
        req.network.mac_address = mac
        if not (v4 or v6):
            LOG.warning('novadock: no fixed IP in network_info: Docker '
                        'assigns the address on %s', self.conf.docker_network,
                        instance=instance)

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        req = self._create_request(context, instance, image_meta, power_on)
        if self._wants_config_drive(instance):
            for path, data in nd_configdrive.build(
                    instance, injected_files, admin_password,
                    network_info).items():
                req.config_drive[path] = data
        elif injected_files or admin_password:
            LOG.warning('novadock: no config drive for this instance: '
                        'injected files and admin password are not passed '
                        '(set [novadock] always_config_drive)',
                        instance=instance)
        self._attach_network(req, instance, network_info)
        inst = self._client.spawn(req, node=self._node_hint(instance))
        LOG.info('novadock: spawned container %s on node %s (%s)',
                 inst.container_name, inst.node, inst.docker_state,
                 instance=instance)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        resp = self._client.destroy(
            instance.uuid, node=self._node_hint(instance),
            grace=_grace(self.conf.graceful_shutdown_timeout))
        LOG.info('novadock: destroyed (existed=%s)', resp.existed,
                 instance=instance)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        # The container is the instance's only disk: remove it (idempotent,
        # usually gone already after destroy()).
        if destroy_disks:
            self._client.destroy(instance.uuid,
                                 node=self._node_hint(instance), grace=1)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None):
        grace = (_grace(self.conf.graceful_shutdown_timeout)
                 if reboot_type == 'SOFT' else 1)
        self._client.reboot(instance.uuid, node=self._node_hint(instance),
                            grace=grace)

    def power_off(self, instance, timeout=0, retry_interval=0):
        # timeout 0: Nova wants it off now (no clean shutdown).
        self._client.power_off(instance.uuid, node=self._node_hint(instance),
                               grace=_grace(timeout))

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None):
        self._client.power_on(instance.uuid, node=self._node_hint(instance))

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  block_device_info=None):
        """With [DEFAULT] resume_guests_state_on_host_boot, nova-compute
        calls this at start-up for an instance it knows as running whose
        container is not (dockerd or the node restarted): start it again."""
        self._client.power_on(instance.uuid, node=self._node_hint(instance))

    def pause(self, instance):
        self._client.pause(instance.uuid, node=self._node_hint(instance))

    def unpause(self, instance):
        self._client.unpause(instance.uuid, node=self._node_hint(instance))

    def get_info(self, instance, use_cache=True):
        inst = self._client.get_instance(instance.uuid,
                                         node=self._node_hint(instance))
        return hardware.InstanceInfo(
            state=POWER_STATES.get(inst.power_state, power_state.NOSTATE),
            internal_id=inst.container_id)

    def instance_exists(self, instance):
        try:
            self._client.get_instance(instance.uuid,
                                      node=self._node_hint(instance))
            return True
        except exception.InstanceNotFound:
            return False

    def _list(self):
        resp = self._client.list_instances()
        unreachable = [n for n in resp.unreachable_nodes if self._manages(n)]
        if unreachable:
            LOG.warning('novadock: nodes %s did not answer; their instances '
                        'are missing from the list', ', '.join(unreachable))
        return [i for i in resp.instances if self._manages(i.node)]

    def list_instances(self):
        return [i.name for i in self._list()]

    def list_instance_uuids(self):
        return [i.uuid for i in self._list()]

    def get_console_output(self, context, instance):
        resp = self._client.get_console_output(instance.uuid,
                                               self.conf.console_max_bytes)
        return resp.output

    def snapshot(self, context, instance, image_id, update_task_state):
        """Commits the container into a Docker image and has the agent
        upload it (docker-save archive) straight into the Glance image
        `image_id` that Nova's API created (queued); no bytes pass through
        nova-compute. The image is marked container_format=docker,
        disk_format=raw first."""
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        meta = {'container_format': 'docker', 'disk_format': 'raw'}
        if image_id:
            self._image_api.update(context, image_id, meta,
                                   purge_props=False)
        else:  # Not Nova's path (its API creates the record); kept for
            # callers that ask for a new image.
            meta.update({'name': 'snapshot-%s' % instance.uuid,
                         'properties': {'instance_uuid': instance.uuid}})
            image_id = self._image_api.create(context, meta)['id']
        update_task_state(task_state=task_states.IMAGE_UPLOADING,
                          expected_state=task_states.IMAGE_PENDING_UPLOAD)
        resp = self._client.snapshot(
            instance.uuid, image_name='novadock/glance:%s' % image_id,
            glance_image_id=image_id,
            auth_token=getattr(context, 'auth_token', None))
        LOG.info('novadock: snapshot %s of %d bytes on node %s '
                 '(uploaded=%s)', image_id, resp.size_bytes, resp.node,
                 resp.uploaded, instance=instance)
        if not resp.uploaded:
            raise exception.NovaException(
                message='novadock: snapshot %s was committed on node %s but '
                        'not uploaded to Glance' % (image_id, resp.node))

    def plug_vifs(self, instance, network_info):
        # Docker attaches the container to [novadock] docker_network at
        # create time; there is no host-side VIF to plug.
        LOG.debug('novadock: plug_vifs is a no-op (%s)',
                  'network %s joined at spawn' % self.conf.docker_network
                  if self.conf.docker_network else 'no docker_network set',
                  instance=instance)

    def unplug_vifs(self, instance, network_info):
        LOG.debug('novadock: unplug_vifs is a no-op: the container leaves '
                  'its network when it is removed', instance=instance)
