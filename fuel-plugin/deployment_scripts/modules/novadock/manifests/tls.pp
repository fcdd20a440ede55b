# novadock::tls: the deployment CA on this node, in $dir: ca.pem (0644) and
# ca-key.pem (0600 root), from which novadock::certificate issues this
# node's own certificates. Only docker nodes and controllers include it.
#
#   $dir         directory of the TLS files (root:$group 0750)
#   $ca_cert     PEM text of the CA certificate (plugin setting tls_ca_cert)
#   $ca_key      PEM text of the CA key (plugin setting tls_ca_key)
#   $group       group that may read the directory (the daemons' group)
class novadock::tls (
  $ca_cert,
  $ca_key,
  $dir = '/etc/novadock/tls',
  $group = 'novadock',
) {
  if $ca_cert !~ /-----BEGIN CERTIFICATE-----/ {
    fail('novadock: TLS is on but the setting "Deployment CA certificate" is not a PEM certificate')
  }
  if $ca_key !~ /-----BEGIN [A-Z ]*PRIVATE KEY-----/ {
    fail('novadock: TLS is on but the setting "Deployment CA key" is not a PEM private key')
  }
  file { $dir:
    ensure => directory,
    owner  => 'root',
    group  => $group,
    mode   => '0750',
  }
  file { "${dir}/ca.pem":
    ensure  => file,
    owner   => 'root',
    group   => $group,
    mode    => '0644',
    content => $ca_cert,
  }
  file { "${dir}/ca-key.pem":
    ensure    => file,
    owner     => 'root',
    group     => 'root',
    mode      => '0600',
    content   => $ca_key,
    show_diff => false,
  }
}
