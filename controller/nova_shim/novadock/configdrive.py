"""The config drive of an instance, as the files novadock-agent mounts
read-only into its container (docs/agent.md, "Config drive").

Nova's libvirt driver builds an ISO from ``InstanceMetadata``; that class
also asks Neutron for security groups and the database for EC2 ids on every
spawn. A container needs only the files its entrypoint or cloud-init reads,
so this module writes them itself in the same ``openstack/latest`` layout
and with the same keys (Nova's ``_metadata_as_json``), using Nova's own
``netutils.get_network_metadata`` for ``network_data.json``:

- ``openstack/latest/meta_data.json``: uuid, name, hostname, launch_index,
  availability_zone, project_id, meta (instance metadata), public_keys and
  keys (the instance's key pair), files (injected files, whose bytes are in
  ``openstack/content/NNNN``), admin_pass (when Nova gives one),
  random_seed, devices (empty);
- ``openstack/latest/user_data``: the instance's user data, decoded;
- ``openstack/latest/network_data.json``: links, networks, services;
- ``openstack/latest/vendor_data.json`` and ``vendor_data2.json``: ``{}``.
"""

import base64
import json
import os

from nova.virt import netutils

LATEST = 'openstack/latest/'
CONTENT = 'openstack/content/'


def _as_bytes(data):
    return data if isinstance(data, bytes) else str(data).encode('utf-8')


def _keys(instance):
    """Nova's public_keys/keys entries: the key pair when it is loaded on
    the instance, else key_name/key_data (always on the Instance object)."""
    keypairs = None
    if instance.obj_attr_is_set('keypairs'):
        keypairs = instance.keypairs
    if keypairs:
        kp = keypairs[0]
        return {kp.name: kp.public_key}, [
            {'name': kp.name, 'type': kp.type, 'data': kp.public_key}]
    name = instance.key_name if 'key_name' in instance else None
    data = instance.key_data if 'key_data' in instance else None
    if name and data:
        return {name: data}, [{'name': name, 'type': 'ssh', 'data': data}]
    return None, None


def _field(instance, name, default=None):
    return getattr(instance, name) if name in instance else default


def build(instance, injected_files, admin_password, network_info):
    """{relative path: bytes} of `instance`'s config drive."""
    files = {}
    meta = {'uuid': instance.uuid}
    metadata = _field(instance, 'metadata') or {}
    if metadata:
        meta['meta'] = dict(metadata)
    injected = []
    for i, (path, contents) in enumerate(injected_files or []):
        key = '%04d' % i
        files[CONTENT + key] = _as_bytes(contents)
        injected.append({'path': path, 'content_path': '/content/%s' % key})
    if injected:
        meta['files'] = injected
    if admin_password:
        meta['admin_pass'] = admin_password
    public_keys, keys = _keys(instance)
    if public_keys:
        meta['public_keys'] = public_keys
        meta['keys'] = keys
    meta['hostname'] = _field(instance, 'hostname') or instance.name
    meta['name'] = _field(instance, 'display_name') or instance.name
    meta['launch_index'] = _field(instance, 'launch_index') or 0
    meta['availability_zone'] = _field(instance, 'availability_zone')
    meta['random_seed'] = base64.b64encode(os.urandom(512)).decode('ascii')
    meta['project_id'] = _field(instance, 'project_id')
    meta['devices'] = []
    files[LATEST + 'meta_data.json'] = json.dumps(meta).encode('utf-8')

    user_data = _field(instance, 'user_data')
    if user_data:
        files[LATEST + 'user_data'] = base64.b64decode(user_data)

    network = netutils.get_network_metadata(network_info) if network_info \
        else None
    files[LATEST + 'network_data.json'] = json.dumps(
        network or {'links': [], 'networks': [], 'services': []}).encode(
            'utf-8')
    files[LATEST + 'vendor_data.json'] = b'{}'
    files[LATEST + 'vendor_data2.json'] = b'{}'
    return files


def first_addresses(network_info):
    """(ipv4, ipv6, mac) of the first VIF that has a fixed IP, from Nova's
    network_info; empty strings for what it lacks."""
    for vif in network_info or []:
        v4 = v6 = ''
        for ip in vif.fixed_ips():
            if ip['version'] == 4 and not v4:
                v4 = ip['address']
            elif ip['version'] == 6 and not v6:
                v6 = ip['address']
        if v4 or v6:
            return v4, v6, vif['address'] or ''
    return '', '', ''
