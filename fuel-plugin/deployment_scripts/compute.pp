# Fuel task novadock-compute (deployment_tasks.yaml) on every compute node.
# Only a node whose Fuel name matches the plugin's node-name pattern is
# changed; on any other node this manifest declares no resource at all.
# Settings come from hiera as every Fuel task reads them.
notice('MODULAR: novadock/compute.pp')

$novadock = hiera_hash('novadock', {})
$user_node_name = hiera('user_node_name', '')
$roles = hiera('roles', [])

if ('compute' in $roles) and novadock_name_matches($user_node_name, $novadock['node_pattern']) {
  $network_metadata = hiera_hash('network_metadata')
  $me = novadock_node_info($network_metadata, hiera('uid'))
  $tls = $novadock['tls'] ? { false => false, default => true }
  if $tls {
    $controller_address = novadock_controller_address($network_metadata, '50050')
  } else {
    $controller_address = '127.0.0.1:50050'
  }
  if $novadock['glance_fetch'] == false {
    $glance_endpoint = ''
  } else {
    $management_vip = hiera('management_vip')
    $glance_endpoint = "http://${management_vip}:9292"
  }
  $image_dir = $novadock['image_dir'] ? {
    undef   => '/var/lib/novadock/images',
    ''      => '/var/lib/novadock/images',
    default => $novadock['image_dir'],
  }
  class { 'novadock::compute':
    node_name            => $me['name'],
    fqdn                 => $me['fqdn'],
    address              => $me['address'],
    controller_address   => $controller_address,
    image_dir            => $image_dir,
    glance_endpoint      => $glance_endpoint,
    tls                  => $tls,
    ca_cert              => $novadock['tls_ca_cert'],
    ca_key               => $novadock['tls_ca_key'],
    max_instances        => $novadock['max_instances'],
    reserved_memory_mb   => $novadock['reserved_memory_mb'],
    reserved_vcpus       => $novadock['reserved_vcpus'],
    reserved_disk_gb     => $novadock['reserved_disk_gb'],
    nova_in_docker_group => $novadock['nova_in_docker_group'] ? { false => false, default => true },
  }
} else {
  notice("novadock: ${user_node_name} is not a docker compute node (pattern '${novadock['node_pattern']}'): nothing to do")
}
