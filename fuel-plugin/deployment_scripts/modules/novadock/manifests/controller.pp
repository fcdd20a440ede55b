# novadock::controller: a controller node. novadock-controller (with its
# certificates and the agents of every docker node) and Glance accepting
# the "docker" container format (added to the formats it has; none
# removed).
#
#   $node_name, $fqdn, $address  this controller (certificate SANs; the
#                     listen address when $tls)
#   $agents           the agents file: NAME=ADDRESS:PORT lines
#   $tls              mutual TLS (needs $ca_cert, $ca_key); off: listens on
#                     loopback only and dials agents in plain text
#   $glance_api_conf, $restart_glance: what is changed and how glance-api
#                     is restarted (tests change them)
class novadock::controller (
  $node_name,
  $fqdn,
  $address,
  $agents,
  $image_dir = '/var/lib/novadock/images',
  $tls = true,
  $ca_cert = '',
  $ca_key = '',
  $port = '50050',
  $tls_dir = '/etc/novadock/tls',
  $flags_file = '/etc/novadock/controller.flags',
  $agents_file = '/etc/novadock/agents',
  $glance_api_conf = '/etc/glance/glance-api.conf',
  $restart_glance = 'service glance-api restart',
  $make_certs = '/usr/share/novadock/make-certs.sh',
) {
  if $image_dir !~ /^\/[A-Za-z0-9._\/-]+$/ {
    fail("novadock: image directory '${image_dir}' is not an absolute path")
  }
  package { 'novadock-controller': ensure => installed }

  if $tls {
    $listen = "${address}:${port}"
    class { 'novadock::tls':
      ca_cert => $ca_cert,
      ca_key  => $ca_key,
      dir     => $tls_dir,
      require => Package['novadock-controller'],
    }
    novadock::certificate { 'controller-server':
      kind       => 'server',
      dir        => $tls_dir,
      sans       => "IP:${address} DNS:${fqdn}",
      make_certs => $make_certs,
      require    => Class['novadock::tls'],
    }
    novadock::certificate { 'controller':
      kind       => 'client',
      dir        => $tls_dir,
      make_certs => $make_certs,
      require    => Class['novadock::tls'],
    }
    $flags_requires = [Package['novadock-controller'],
                       Novadock::Certificate['controller-server'],
                       Novadock::Certificate['controller']]
  } else {
    $listen = "127.0.0.1:${port}"
    $flags_requires = [Package['novadock-controller']]
  }

  file { $flags_file:
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => template('novadock/controller.flags.erb'),
    require => $flags_requires,
  }
  file { $agents_file:
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => "# Written by the novadock Fuel plugin: its docker nodes.\n${agents}",
    require => Package['novadock-controller'],
  }
  service { 'novadock-controller':
    ensure    => running,
    enable    => true,
    subscribe => [File[$flags_file], File[$agents_file]],
  }

  # Glance: "docker" added to the container formats it already accepts.
  ini_setting { 'novadock glance-api.conf container_formats':
    ensure  => present,
    path    => $glance_api_conf,
    section => 'image_format',
    setting => 'container_formats',
    value   => novadock_container_formats($glance_api_conf, 'docker'),
    notify  => Exec['novadock-restart-glance-api'],
  }
  exec { 'novadock-restart-glance-api':
    command     => $restart_glance,
    path        => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],
    refreshonly => true,
  }
}
