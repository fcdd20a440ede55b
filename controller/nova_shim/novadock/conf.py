"""The [novadock] options of nova.conf, and list_opts() for
oslo-config-generator (namespace ``novadock``)."""

from oslo_config import cfg

GROUP = 'novadock'

novadock_group = cfg.OptGroup(
    GROUP, title='novadock options',
    help='The novadock compute driver: instances are Docker containers '
         'run by novadock-agent on docker nodes, driven through '
         'novadock-controller.')

novadock_opts = [
    cfg.StrOpt('controller_address', default='127.0.0.1:50050',
               help='host:port of novadock-controller\'s gRPC API. Plain '
                    'text is used only when this is a loopback address '
                    '(127.0.0.0/8, ::1, localhost); any other address '
                    'requires tls_ca, tls_cert and tls_key (mutual TLS).'),
    cfg.StrOpt('tls_ca', default='',
               help='PEM file of the CA that signed the controller\'s '
                    'certificate. Setting it turns TLS on.'),
    cfg.StrOpt('tls_cert', default='',
               help='PEM client certificate presented to the controller.'),
    cfg.StrOpt('tls_key', default='',
               help='PEM private key of tls_cert.'),
    cfg.StrOpt('tls_server_name', default='',
               help='Name to check the controller\'s certificate against, '
                    'if not the host part of controller_address.'),
    cfg.ListOpt('nodes', default=[],
                help='Docker nodes (the agents\' --node_name) that this '
                     'nova-compute manages. Empty: every node of the '
                     'controller (one nova-compute for the whole pool, as '
                     'the ironic driver does). When nova-compute runs on '
                     'every docker node (the Fuel plugin), each lists only '
                     'its own node, so that no two services claim one node.'),
    cfg.FloatOpt('call_timeout', default=60.0, min=1.0,
                 help='Deadline in seconds of one controller call. Power '
                      'calls add their grace period; spawn and snapshot '
                      'use spawn_timeout and snapshot_timeout.'),
    cfg.FloatOpt('spawn_timeout', default=600.0, min=1.0,
                 help='Deadline in seconds of a spawn (may include an image '
                      'download by the agent).'),
    cfg.FloatOpt('snapshot_timeout', default=1800.0, min=1.0,
                 help='Deadline in seconds of a snapshot (commit, save and '
                      'upload to Glance by the agent).'),
    cfg.IntOpt('retries', default=3, min=0,
               help='Extra attempts of a read-only call that failed with '
                    'UNAVAILABLE or DEADLINE_EXCEEDED (with backoff from '
                    '0.5 s, doubling). Calls that change state are never '
                    'retried.'),
    cfg.IntOpt('graceful_shutdown_timeout', default=30, min=0, max=3600,
               help='Grace period in seconds for destroy and reboot before '
                    'the container is killed (power_off uses the timeout '
                    'Nova passes, or this when Nova passes 0).'),
    cfg.IntOpt('event_poll_wait_ms', default=10000, min=100, max=60000,
               help='How long one PollEvents long-poll waits for events.'),
    cfg.StrOpt('docker_network', default='',
               help='User-defined Docker network (made on every docker node '
                    'with `docker network create`) that instances join with '
                    'the first fixed IP and the MAC of their Neutron port. '
                    'Empty: no network (loopback only).'),
    cfg.BoolOpt('always_config_drive', default=True,
                help='Give every instance a config drive (a read-only '
                     'directory in the openstack/latest layout: meta_data, '
                     'user_data, network_data, key, injected files, admin '
                     'password). False: only when Nova requires one '
                     '(--config-drive, force_config_drive, or the image\'s '
                     'img_config_drive=mandatory). Containers usually have no '
                     'metadata service to ask instead.'),
    cfg.FloatOpt('cpu_allocation_ratio', default=None, min=0.0,
                 help='VCPU allocation ratio reported to placement. Unset: '
                      'Nova\'s [DEFAULT] cpu_allocation_ratio / '
                      'initial_cpu_allocation_ratio.'),
    cfg.FloatOpt('ram_allocation_ratio', default=None, min=0.0,
                 help='MEMORY_MB allocation ratio. Unset: Nova\'s '
                      '[DEFAULT] ram_allocation_ratio / '
                      'initial_ram_allocation_ratio.'),
    cfg.FloatOpt('disk_allocation_ratio', default=None, min=0.0,
                 help='DISK_GB allocation ratio. Unset: Nova\'s [DEFAULT] '
                      'disk_allocation_ratio / initial_disk_allocation_ratio.'),
    cfg.IntOpt('reserved_host_vcpus', default=0, min=0,
               help='VCPUs of every docker node kept from instances.'),
    cfg.IntOpt('reserved_host_memory_mb', default=512, min=0,
               help='MiB of memory of every docker node kept from instances '
                    '(dockerd, the agent, the host).'),
    cfg.IntOpt('reserved_host_disk_gb', default=0, min=0,
               help='GiB of disk of every docker node kept from instances.'),
    cfg.IntOpt('console_max_bytes', default=65536, min=1, max=1048576,
               help='How much of the end of an instance\'s output '
                    'get_console_output returns.'),
]


def register_opts(conf):
    conf.register_group(novadock_group)
    conf.register_opts(novadock_opts, group=novadock_group)


def list_opts():
    """oslo.config.opts entry point: [(group, [opts])]."""
    return [(novadock_group, novadock_opts)]
