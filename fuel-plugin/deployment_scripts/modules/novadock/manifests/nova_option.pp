# novadock::nova_option { OPTION: value => V }: [novadock] OPTION = V in
# nova.conf ($path), restarting nova-compute when it changes.
define novadock::nova_option (
  $value,
  $path = '/etc/nova/nova.conf',
) {
  ini_setting { "novadock nova.conf novadock/${title}":
    ensure  => present,
    path    => $path,
    section => 'novadock',
    setting => $title,
    value   => $value,
    notify  => Exec['novadock-restart-nova-compute'],
  }
}
