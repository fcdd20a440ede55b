# novadock::certificate { NAME: }: issues NAME.pem / NAME-key.pem in $dir
# (the novadock::tls directory, which must be declared) with make-certs.sh, once (make-certs.sh never
# overwrites; `creates` keeps the run idempotent), then gives the key to
# $group (0640).
#
#   $kind        'server' or 'client'
#   $sans        server only: subjectAltNames, space-separated
#                (IP:10.0.0.5 DNS:node-3.example.org)
#   $make_certs  the script (package novadock-common)
define novadock::certificate (
  $kind,
  $dir = '/etc/novadock/tls',
  $sans = '',
  $group = 'novadock',
  $make_certs = '/usr/share/novadock/make-certs.sh',
) {
  if $title !~ /^[A-Za-z0-9._-]+$/ {
    fail("novadock: certificate name '${title}': want [A-Za-z0-9._-]+")
  }
  if $kind != 'server' and $kind != 'client' {
    fail("novadock: certificate ${title}: kind '${kind}' is not server or client")
  }
  if $sans !~ /^[A-Za-z0-9.:* -]*$/ {
    fail("novadock: certificate ${title}: bad subjectAltNames '${sans}'")
  }
  exec { "novadock-certificate-${title}":
    command => "${make_certs} ${dir} ${kind} ${title} ${sans}",
    creates => "${dir}/${title}.pem",
    path    => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],
    require => [File["${dir}/ca.pem"], File["${dir}/ca-key.pem"]],
  }
  file { "${dir}/${title}-key.pem":
    ensure  => file,
    owner   => 'root',
    group   => $group,
    mode    => '0640',
    require => Exec["novadock-certificate-${title}"],
  }
}
