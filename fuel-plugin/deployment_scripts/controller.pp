# Fuel task novadock-controller (deployment_tasks.yaml) on every controller:
# novadock-controller over the agents of the environment's docker nodes,
# and "docker" added to Glance's container formats. Settings from hiera.
notice('MODULAR: novadock/controller.pp')

$novadock = hiera_hash('novadock', {})
$roles = hiera('roles', [])

if ('controller' in $roles) or ('primary-controller' in $roles) {
  $network_metadata = hiera_hash('network_metadata')
  $me = novadock_node_info($network_metadata, hiera('uid'))
  $tls = $novadock['tls'] ? { false => false, default => true }
  $image_dir = $novadock['image_dir'] ? {
    undef   => '/var/lib/novadock/images',
    ''      => '/var/lib/novadock/images',
    default => $novadock['image_dir'],
  }
  class { 'novadock::controller':
    node_name => $me['name'],
    fqdn      => $me['fqdn'],
    address   => $me['address'],
    agents    => novadock_agents($network_metadata, $novadock['node_pattern'], '50051'),
    image_dir => $image_dir,
    tls       => $tls,
    ca_cert   => $novadock['tls_ca_cert'],
    ca_key    => $novadock['tls_ca_key'],
  }
} else {
  notice('novadock: not a controller: nothing to do')
}
