# Shared by the image build scripts (sourced): the "up to date" check by content hash and the
# debootstrap base image.

# exits 0 (from the script) when image $1 carries hash $2; says why it rebuilds otherwise.
# $3 names the image in what is said ("image", "proxy image").
skip_if_up_to_date() {
  local tag=$1 hash=$2 what=$3 have
  have=$(docker image inspect -f '{{index .Config.Labels "dev.agentdock.image-hash"}}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$hash" ]; then
    echo "$what $tag is up to date ($hash); not rebuilding"
    exit 0
  fi
  [ -n "$have" ] && echo "$what $tag was built from other files ($have); rebuilding"
  return 0
}

# makes base image $1 with debootstrap from mirror $3 when it is absent ($2: the default base,
# the only one made here; another must be there already).
ensure_base() {
  local base=$1 default_base=$2 mirror=$3 rootfs
  docker image inspect "$base" >/dev/null 2>&1 && return 0
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
}
