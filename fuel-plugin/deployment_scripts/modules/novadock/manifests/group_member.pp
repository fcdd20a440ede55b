# novadock::group_member { TITLE: user => U, group => G }: adds U to the
# supplementary group G and changes nothing else: U keeps every other group
# (gpasswd -a edits G's member list only; `usermod -G` would replace U's
# list, the mistake of earlier nova-docker plugins). Runs only if U is not
# in G yet.
define novadock::group_member (
  $user,
  $group,
) {
  if $user !~ /^[a-z_][a-z0-9_-]*$/ or $group !~ /^[a-z_][a-z0-9_-]*$/ {
    fail("novadock: bad user or group name '${user}' / '${group}'")
  }
  exec { "novadock-group-${group}-${user}":
    command  => "gpasswd -a ${user} ${group}",
    unless   => "id -nG ${user} | tr ' ' '\\n' | grep -qx ${group}",
    path     => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],
    provider => shell,
  }
}
