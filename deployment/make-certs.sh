#!/bin/sh
# make-certs.sh: a deployment CA and the certificates for novadock's mutual
# TLS (agent gRPC, controller clients, dockerd over TCP), with openssl.
# Keys are EC P-256, written 0600. Existing files are never overwritten.
# Every argument is validated and passed to openssl as one argv word; nothing
# is evaluated.
set -eu

usage() {
  cat <<'EOF'
usage: make-certs.sh [--days N] DIR ca
       make-certs.sh [--days N] DIR server NAME [SAN...]
       make-certs.sh [--days N] DIR client NAME

  ca      DIR/ca.pem and DIR/ca-key.pem: the deployment CA.
  server  DIR/NAME.pem and DIR/NAME-key.pem, signed by DIR/ca.pem, for
          serverAuth. subjectAltName is DNS:NAME plus each SAN, given as
          DNS:host.name or IP:10.0.0.5 (a bare value is an IP if it parses
          as one, else a DNS name).
  client  DIR/NAME.pem and DIR/NAME-key.pem, signed by DIR/ca.pem, for
          clientAuth, with CN=NAME and subjectAltName DNS:NAME.

  NAME is [A-Za-z0-9._-]+. --days N: validity in days (default 825).
  `ca` creates DIR (0700) if missing. No file is ever overwritten: if one of
  the outputs exists, nothing is written and the exit status is 1.

examples:
  make-certs.sh /etc/novadock/pki ca
  make-certs.sh /etc/novadock/pki server compute-docker-1 IP:10.0.0.5
  make-certs.sh /etc/novadock/pki client controller
EOF
}

die() {
  echo "make-certs.sh: $*" >&2
  exit 1
}

days=825
expect_days=0
first=1
for arg in "$@"; do
  # Rebuilds "$@" without the options, keeping every word intact (the loop
  # list was expanded before the first `set --`).
  if [ "$first" = 1 ]; then
    set --
    first=0
  fi
  if [ "$expect_days" = 1 ]; then
    days=$arg
    expect_days=0
    continue
  fi
  case $arg in
    -h | --help) usage; exit 0 ;;
    --days) expect_days=1 ;;
    --days=*) days=${arg#--days=} ;;
    -*) usage >&2; die "unknown option: $arg" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
[ "$expect_days" = 0 ] || die "--days needs a value"
case $days in
  '' | *[!0-9]*) die "--days: not a positive integer: $days" ;;
esac
if [ ${#days} -gt 5 ]; then
  die "--days: must be 1..36500, got $days"
fi
if [ "$days" -lt 1 ] || [ "$days" -gt 36500 ]; then
  die "--days: must be 1..36500, got $days"
fi

[ $# -ge 2 ] || { usage >&2; exit 2; }
dir=$1
kind=$2
shift 2

command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install openssl)"

valid_name() {
  case $1 in
    '' | *[!A-Za-z0-9._-]* | . | ..) return 1 ;;
  esac
  return 0
}

# Echoes the subjectAltName entry for one SAN argument, or fails.
san_entry() {
  case $1 in
    DNS:*) value=${1#DNS:}; type=DNS ;;
    IP:*) value=${1#IP:}; type=IP ;;
    *:*) value=$1; type=IP ;;  # A bare IPv6 address.
    *[!0-9.]*) value=$1; type=DNS ;;
    *) value=$1; type=IP ;;
  esac
  case $type in
    DNS) case $value in '' | *[!A-Za-z0-9.*-]*) return 1 ;; esac ;;
    IP) case $value in '' | *[!0-9A-Fa-f.:]*) return 1 ;; esac ;;
  esac
  echo "$type:$value"
}

case $kind in
  ca) [ $# -eq 0 ] || die "ca takes no further arguments" ;;
  server | client)
    [ $# -ge 1 ] || die "$kind needs a NAME"
    name=$1
    shift
    valid_name "$name" || die "invalid NAME '$name': want [A-Za-z0-9._-]+"
    [ "$name" != ca ] || die "NAME 'ca' is reserved for the CA"
    if [ "$kind" = client ] && [ $# -gt 0 ]; then
      die "client takes no SANs"
    fi
    ;;
  *) usage >&2; die "unknown kind '$kind': want ca, server or client" ;;
esac

if [ "$kind" = ca ]; then
  cert=$dir/ca.pem
  key=$dir/ca-key.pem
else
  cert=$dir/$name.pem
  key=$dir/$name-key.pem
  if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca-key.pem" ]; then
    die "no CA in $dir (run: make-certs.sh $dir ca)"
  fi
fi
if [ "$kind" = ca ] && [ ! -d "$dir" ]; then
  (umask 077 && mkdir -p -- "$dir") || die "cannot create directory $dir"
fi
for f in "$cert" "$key"; do
  if [ -e "$f" ] || [ -L "$f" ]; then
    die "$f exists; refusing to overwrite (remove it first)"
  fi
done

umask 077
work=$(mktemp -d "$dir/.make-certs.XXXXXX") || die "cannot write in $dir"
trap 'rm -rf -- "$work"' EXIT
trap 'exit 1' HUP INT TERM

# All requests and extensions come from this file, not the system openssl.cnf.
cnf=$work/openssl.cnf
{
  echo '[req]'
  echo 'distinguished_name = dn'
  echo 'prompt = no'
  echo '[dn]'
  echo '[ca_ext]'
  echo 'basicConstraints = critical,CA:TRUE,pathlen:0'
  echo 'keyUsage = critical,keyCertSign,cRLSign'
  echo 'subjectKeyIdentifier = hash'
  echo '[server_ext]'
  echo 'basicConstraints = critical,CA:FALSE'
  echo 'keyUsage = critical,digitalSignature'
  echo 'extendedKeyUsage = serverAuth'
  echo 'subjectKeyIdentifier = hash'
  echo 'authorityKeyIdentifier = keyid'
} >"$cnf"

if [ "$kind" = server ]; then
  sans="DNS:$name"
  for san in "$@"; do
    entry=$(san_entry "$san") || die "invalid SAN '$san': want DNS:name or IP:address"
    sans="$sans,$entry"
  done
  echo "subjectAltName = $sans" >>"$cnf"  # Ends [server_ext].
fi
if [ "$kind" = client ]; then
  # The SAN repeats the CN: an agent's --tls_allowed_client_names matches
  # either.
  {
    echo '[client_ext]'
    echo 'basicConstraints = critical,CA:FALSE'
    echo 'keyUsage = critical,digitalSignature'
    echo 'extendedKeyUsage = clientAuth'
    echo 'subjectKeyIdentifier = hash'
    echo 'authorityKeyIdentifier = keyid'
    echo "subjectAltName = DNS:$name"
  } >>"$cnf"
fi

run() {
  out=$("$@" 2>&1) || { echo "$out" >&2; die "openssl failed: $1 $2"; }
}

run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -out "$work/key.pem"
if [ "$kind" = ca ]; then
  run openssl req -config "$cnf" -new -x509 -sha256 -key "$work/key.pem" \
    -subj "/CN=novadock CA" -days "$days" -extensions ca_ext \
    -set_serial "0x$(openssl rand -hex 16)" -out "$work/cert.pem"
else
  run openssl req -config "$cnf" -new -sha256 -key "$work/key.pem" \
    -subj "/CN=$name" -out "$work/req.pem"
  run openssl x509 -req -sha256 -in "$work/req.pem" -CA "$dir/ca.pem" \
    -CAkey "$dir/ca-key.pem" -set_serial "0x$(openssl rand -hex 16)" \
    -days "$days" -extfile "$cnf" -extensions "${kind}_ext" \
    -out "$work/cert.pem"
fi
chmod 0600 "$work/key.pem"
chmod 0644 "$work/cert.pem"

# ln refuses an existing target, so a file made meanwhile is not replaced.
ln -- "$work/key.pem" "$key" 2>/dev/null ||
  die "$key exists; refusing to overwrite (remove it first)"
if ! ln -- "$work/cert.pem" "$cert" 2>/dev/null; then
  rm -f -- "$key"
  die "$cert exists; refusing to overwrite (remove it first)"
fi
echo "wrote $cert and $key ($kind, $days days)"
