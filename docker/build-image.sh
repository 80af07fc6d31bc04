#!/usr/bin/env bash
# Builds the agentdock agent image from docker/Dockerfile.
#
#   docker/build-image.sh [--tag TAG] [--base IMAGE] [--ca-bundle FILE | --no-ca] [--if-missing]
#
# --tag TAG        image tag (default $AGENTDOCK_IMAGE or agentdock/agent:latest)
# --base IMAGE     base image (default agentdock/base:bookworm). When it is absent and is the
#                  default, it is made here with debootstrap + docker import (no registry needed).
# --ca-bundle FILE PEM bundle added to the image's trusted CAs, for TLS proxies (company proxies,
#                  this build machine). Default: $AGENTDOCK_CA_BUNDLE, else $SSL_CERT_FILE when set.
# --no-ca          add no CA bundle.
# --if-missing     do nothing when TAG already exists.
# --mirror URL     Debian mirror for debootstrap (default http://deb.debian.org/debian).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tag=${AGENTDOCK_IMAGE:-agentdock/agent:latest}
default_base=agentdock/base:bookworm
base=$default_base
ca=${AGENTDOCK_CA_BUNDLE:-${SSL_CERT_FILE:-}}
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

if [ "$if_missing" = 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "image $tag present; not rebuilding"
  exit 0
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
DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" -t "$tag" "$ctx"
