#!/usr/bin/env bash
# Builds agentdock's egress proxy image (Debian's squid) from docker/proxy/.
#
#   docker/proxy/build.sh [--tag TAG] [--base IMAGE] [--ca-bundle FILE | --no-ca] [--if-missing]
#                         [--no-cache]
#
# --tag TAG        image tag (default $AGENTDOCK_PROXY_IMAGE or agentdock/proxy:latest)
# --base IMAGE     base image (default agentdock/base:bookworm). When it is absent and is the
#                  default, it is made here with debootstrap + docker import (no registry needed).
# --ca-bundle FILE PEM bundle trusted while apt runs, for TLS proxies between this build and the
#                  mirror. Default: $AGENTDOCK_CA_BUNDLE, else $SSL_CERT_FILE, else the host's
#                  /etc/ssl/certs/ca-certificates.crt.
# --no-ca          add no CA bundle.
# --if-missing     do nothing when TAG exists and was built from these same files.
# --no-cache       build without the layer cache.
# --mirror URL     Debian mirror for debootstrap (default http://deb.debian.org/debian).
# Safe to run from several processes at once (flock on /tmp/agentdock-proxy-image.lock).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../image-lib.sh"
tag=${AGENTDOCK_PROXY_IMAGE:-agentdock/proxy:latest}
default_base=agentdock/base:bookworm
base=$default_base
ca=${AGENTDOCK_CA_BUNDLE:-${SSL_CERT_FILE:-}}
if [ -z "$ca" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then ca=/etc/ssl/certs/ca-certificates.crt; fi
if_missing=0
no_cache=()
mirror=http://deb.debian.org/debian
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --ca-bundle) ca=$2; shift 2 ;;
    --no-ca) ca=; shift ;;
    --if-missing) if_missing=1; shift ;;
    --no-cache) no_cache=(--no-cache); shift ;;
    --mirror) mirror=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

lock=/tmp/agentdock-proxy-image.lock
exec 9>>"$lock"
chmod 0666 "$lock" 2>/dev/null || true
flock -w 900 9 || { echo "build.sh: timed out waiting for $lock" >&2; exit 1; }

files=(Dockerfile squid.conf entrypoint.sh healthcheck.sh ERR_AGENTDOCK_UNLISTED ERR_AGENTDOCK_PRIVATE)
hash=$(cd "$here" && cat "${files[@]}" | sha256sum | cut -c1-16)
if [ "$if_missing" = 1 ]; then
  skip_if_up_to_date "$tag" "$hash" "proxy image"
fi
ensure_base "$base" "$default_base" "$mirror"

ctx=$(mktemp -d /tmp/agentdock-proxy-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
(cd "$here" && cp "${files[@]}" "$ctx"/)
if [ -n "$ca" ]; then
  [ -r "$ca" ] || { echo "CA bundle $ca is not readable" >&2; exit 1; }
  cp "$ca" "$ctx/extra-ca.crt"
else
  : > "$ctx/extra-ca.crt"
fi
echo "building $tag on $base"
DOCKER_BUILDKIT=0 docker build ${no_cache[@]+"${no_cache[@]}"} --build-arg BASE="$base" \
  --label "dev.agentdock.image-hash=$hash" -t "$tag" "$ctx"
