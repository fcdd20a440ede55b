# novadock::compute: a docker compute node. Docker, the novadock agent
# (with its certificates), nova-compute pointed at the novadock driver, and
# nova in group docker without losing its other groups.
# deployment_scripts/compute.pp declares it only on compute nodes whose
# name matches the plugin's pattern.
#
#   $node_name          this node's host name: the agent's --node_name and
#                       the Nova node (hypervisor_hostname)
#   $fqdn, $address     its FQDN and management address (certificate SANs,
#                       the agent's listen address when $tls)
#   $controller_address where nova-compute reaches novadock-controller
#   $glance_endpoint    Glance v2 for image downloads; '' turns them off
#   $tls                mutual TLS (needs $ca_cert, $ca_key); off: the agent
#                       and the controller listen on loopback only
#   $nova_conf, $nova_compute_conf, $restart_nova: what is changed and
#                       how nova-compute is restarted (tests change them)
class novadock::compute (
  $node_name,
  $fqdn,
  $address,
  $controller_address,
  $image_dir = '/var/lib/novadock/images',
  $glance_endpoint = '',
  $tls = true,
  $ca_cert = '',
  $ca_key = '',
  $agent_port = '50051',
  $max_instances = '100',
  $reserved_memory_mb = '512',
  $reserved_vcpus = '0',
  $reserved_disk_gb = '0',
  $nova_in_docker_group = true,
  $tls_dir = '/etc/novadock/tls',
  $nova_tls_dir = '/etc/nova/novadock-tls',
  $flags_file = '/etc/novadock/agent.flags',
  $unit_dropin_dir = '/etc/systemd/system/novadock-agent.service.d',
  $nova_conf = '/etc/nova/nova.conf',
  $nova_compute_conf = '/etc/nova/nova-compute.conf',
  $restart_nova = 'service nova-compute restart',
  $make_certs = '/usr/share/novadock/make-certs.sh',
) {
  if $image_dir !~ /^\/[A-Za-z0-9._\/-]+$/ {
    fail("novadock: image directory '${image_dir}' is not an absolute path")
  }
  $path = ['/usr/sbin', '/usr/bin', '/sbin', '/bin']

  # Docker.
  package { 'docker.io': ensure => installed }
  service { 'docker':
    ensure  => running,
    enable  => true,
    require => Package['docker.io'],
  }

  # The agent (novadock-common and novadock-glance-loader come along).
  package { ['novadock-agent', 'novadock-glance-loader',
             'python3-novadock-nova']:
    ensure => installed,
  }
  file { $image_dir:
    ensure  => directory,
    owner   => 'novadock',
    group   => 'novadock',
    mode    => '0750',
    require => Package['novadock-agent'],
  }

  if $tls {
    $listen = "${address}:${agent_port}"
    class { 'novadock::tls':
      ca_cert => $ca_cert,
      ca_key  => $ca_key,
      dir     => $tls_dir,
      require => Package['novadock-agent'],
    }
    novadock::certificate { 'agent':
      kind       => 'server',
      dir        => $tls_dir,
      sans       => "IP:${address} DNS:${fqdn}",
      make_certs => $make_certs,
      require    => Class['novadock::tls'],
    }
    # nova-compute's client certificate, copied where user nova reads it.
    novadock::certificate { 'nova-compute':
      kind       => 'client',
      dir        => $tls_dir,
      group      => 'root',
      make_certs => $make_certs,
      require    => Class['novadock::tls'],
    }
    file { $nova_tls_dir:
      ensure => directory,
      owner  => 'root',
      group  => 'nova',
      mode   => '0750',
    }
    file { "${nova_tls_dir}/ca.pem":
      ensure  => file,
      owner   => 'root',
      group   => 'nova',
      mode    => '0644',
      content => $ca_cert,
    }
    # Copied by install(1) once issued (a file resource with `source`
    # could not be checked before the certificate exists).
    exec { 'novadock-nova-compute-tls':
      command => "install -o root -g nova -m 0644 ${tls_dir}/nova-compute.pem ${nova_tls_dir}/nova-compute.pem && install -o root -g nova -m 0640 ${tls_dir}/nova-compute-key.pem ${nova_tls_dir}/nova-compute-key.pem",
      creates => "${nova_tls_dir}/nova-compute-key.pem",
      path    => $path,
      require => [Novadock::Certificate['nova-compute'], File[$nova_tls_dir]],
    }
    $agent_requires = [Package['novadock-agent'], Novadock::Certificate['agent'],
                       Exec['novadock-nova-compute-tls']]
    $nova_tls = {
      'tls_ca'   => "${nova_tls_dir}/ca.pem",
      'tls_cert' => "${nova_tls_dir}/nova-compute.pem",
      'tls_key'  => "${nova_tls_dir}/nova-compute-key.pem",
    }
  } else {
    $listen = "127.0.0.1:${agent_port}"
    $agent_requires = [Package['novadock-agent']]
    $nova_tls = { 'tls_ca' => '', 'tls_cert' => '', 'tls_key' => '' }
  }

  file { $flags_file:
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => template('novadock/agent.flags.erb'),
    require => $agent_requires,
  }
  # The unit's ProtectSystem=strict leaves only /var/lib/novadock writable:
  # a drop-in adds the image directory (harmless when it is inside).
  file { $unit_dropin_dir:
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }
  file { "${unit_dropin_dir}/novadock-fuel.conf":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => "# Written by the novadock Fuel plugin.\n[Service]\nReadWritePaths=${image_dir}\n",
    notify  => Exec['novadock-systemd-reload'],
  }
  exec { 'novadock-systemd-reload':
    command     => 'systemctl daemon-reload',
    path        => $path,
    refreshonly => true,
  }
  service { 'novadock-agent':
    ensure    => running,
    enable    => true,
    subscribe => [File[$flags_file], File["${unit_dropin_dir}/novadock-fuel.conf"]],
    require   => [Service['docker'], File[$image_dir],
                  Exec['novadock-systemd-reload']],
  }

  # nova-compute: the driver (nova.conf and, as Ubuntu's nova-compute reads
  # it last, nova-compute.conf) and its [novadock] section.
  ini_setting { 'novadock nova.conf compute_driver':
    ensure  => present,
    path    => $nova_conf,
    section => 'DEFAULT',
    setting => 'compute_driver',
    value   => 'novadock.driver.NovaDockDriver',
    notify  => Exec['novadock-restart-nova-compute'],
  }
  ini_setting { 'novadock nova-compute.conf compute_driver':
    ensure  => present,
    path    => $nova_compute_conf,
    section => 'DEFAULT',
    setting => 'compute_driver',
    value   => 'novadock.driver.NovaDockDriver',
    notify  => Exec['novadock-restart-nova-compute'],
  }
  Novadock::Nova_option {
    path => $nova_conf,
  }
  novadock::nova_option {
    'controller_address': value => $controller_address;
    # This nova-compute manages its own docker node only.
    'nodes': value => $node_name;
    'tls_ca': value => $nova_tls['tls_ca'];
    'tls_cert': value => $nova_tls['tls_cert'];
    'tls_key': value => $nova_tls['tls_key'];
    'reserved_host_memory_mb': value => $reserved_memory_mb;
    'reserved_host_vcpus': value => $reserved_vcpus;
    'reserved_host_disk_gb': value => $reserved_disk_gb;
  }
  exec { 'novadock-restart-nova-compute':
    command     => $restart_nova,
    path        => $path,
    refreshonly => true,
    require     => [Package['python3-novadock-nova'], Service['novadock-agent']],
  }

  if $nova_in_docker_group {
    novadock::group_member { 'nova-in-docker':
      user    => 'nova',
      group   => 'docker',
      require => Package['docker.io'],
      notify  => Exec['novadock-restart-nova-compute'],
    }
  }
}
