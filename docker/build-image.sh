#!/usr/bin/env bash
# Builds the agentdock agent image from docker/Dockerfile.
#
#   docker/build-image.sh [--tag TAG] [--base IMAGE] [--ca-bundle FILE | --no-ca] [--if-missing]
#
# --tag TAG        image tag (default $AGENTDOCK_IMAGE or agentdock/agent:latest)
# --base IMAGE     base image (default agentdock/base:bookworm). When it is absent and is the
#                  default, it is made here with debootstrap + docker import (no registry needed).
# --ca-bundle FILE PEM bundle added to the image's trusted CAs, for TLS proxies (company proxies,
#                  this build machine). Default: $AGENTDOCK_CA_BUNDLE, else $SSL_CERT_FILE, else
#                  the host's /etc/ssl/certs/ca-certificates.crt.
# --no-ca          add no CA bundle.
# --if-missing     do nothing when TAG exists and was built from these same files (an image
#                  built from older files is rebuilt; the layer cache keeps that quick).
# --mirror URL     Debian mirror for debootstrap (default http://deb.debian.org/debian).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tag=${AGENTDOCK_IMAGE:-agentdock/agent:latest}
default_base=agentdock/base:bookworm
base=$default_base
ca=${AGENTDOCK_CA_BUNDLE:-${SSL_CERT_FILE:-}}
# else the host's system bundle: whatever the host trusts (a proxy's CA included), the build does
if [ -z "$ca" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then ca=/etc/ssl/certs/ca-certificates.crt; fi
if_missing=0
mirror=http://deb.debian.org/debian
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --ca-bundle) ca=$2; shift 2 ;;
    --no-ca) ca=; shift ;;
    --if-missing) if_missing=1; shift ;;
    --mirror) mirror=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# what the image is built from: a change to any of these files means a rebuild
hash=$(cd "$here" && cat Dockerfile $(ls *.sh | grep -v -e build-image.sh -e ensure-engine.sh | sort) | sha256sum | cut -c1-16)
if [ "$if_missing" = 1 ]; then
  have=$(docker image inspect -f '{{index .Config.Labels "dev.agentdock.image-hash"}}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$hash" ]; then
    echo "image $tag is up to date ($hash); not rebuilding"
    exit 0
  fi
  [ -n "$have" ] && echo "image $tag was built from other files ($have); rebuilding"
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [ "$base" != "$default_base" ]; then
    echo "base image $base is absent: pull or build it first" >&2; exit 1
  fi
  echo "making base image $base with debootstrap (no registry needed)"
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  rootfs=$(mktemp -d /tmp/agentdock-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
fi

ctx=$(mktemp -d /tmp/agentdock-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "$here"/Dockerfile "$here"/*.sh "$ctx"/
rm -f "$ctx"/build-image.sh "$ctx"/ensure-engine.sh
if [ -n "$ca" ]; then
  [ -r "$ca" ] || { echo "CA bundle $ca is not readable" >&2; exit 1; }
  cp "$ca" "$ctx/extra-ca.crt"
  echo "adding CA bundle $ca to the image"
else
  : > "$ctx/extra-ca.crt"
fi
echo "building $tag on $base"
DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" --label "dev.agentdock.image-hash=$hash" -t "$tag" "$ctx"
