#!/usr/bin/env bash
# Builds the agentdock agent image from docker/Dockerfile, or checks a built one.
#
#   docker/build-image.sh [--tag TAG] [--base IMAGE] [--ca-bundle FILE | --no-ca] [--if-missing]
#                         [--no-cache]
#   docker/build-image.sh test [--tag TAG]
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
# --no-cache       build without the layer cache (docker build --no-cache).
# --mirror URL     Debian mirror for debootstrap (default http://deb.debian.org/debian).
# test             check the image TAG: --health-check, --version and a one-step task against the
#                  scripted model server (tests/fixtures/model_server.py) in a sidecar container,
#                  all without network. Prints PASS/FAIL lines; exit status 1 on any FAIL.
# The image's agentdock version (label dev.agentdock.version, `--version`) is the Cargo.toml
# version, or $AGENTDOCK_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/image-lib.sh"

# `test`: checks a built image without network. Containers are labelled dev.agentdock.test=fixture
# and removed, temp dirs deleted, on any exit.
image_test() {
  local img=$1 fails=0 tmp sidecar task server out rc i
  server="$here/../tests/fixtures/model_server.py"
  pass() { echo "PASS $*"; }
  fail() { echo "FAIL $*"; fails=$((fails + 1)); }
  docker image inspect "$img" >/dev/null 2>&1 || { echo "FAIL image $img is absent: build it first"; return 1; }
  tmp=$(mktemp -d /tmp/agentdock-imgtest.XXXXXX)
  sidecar=agentdock-imgtest-model-$$
  task=agentdock-imgtest-task-$$
  # shellcheck disable=SC2064
  trap "docker rm -f $sidecar $task >/dev/null 2>&1; rm -rf '$tmp' 2>/dev/null || docker run --rm --label dev.agentdock.test=fixture -v '$tmp':/t --entrypoint rm '$img' -rf /t/ws /t/task >/dev/null 2>&1; rm -rf '$tmp'" EXIT
  mkdir -p "$tmp/ws" "$tmp/task"
  git -C "$tmp/ws" init -q
  git -C "$tmp/ws" -c user.name=t -c user.email=t@localhost commit -q --allow-empty -m base
  base=$(git -C "$tmp/ws" rev-parse HEAD)
  chmod -R a+rwX "$tmp"   # the image's user (uid 1000) writes here, whoever runs this

  out=$(docker run --rm --label dev.agentdock.test=fixture --network none -v "$tmp/ws":/workspace "$img" --health-check 2>&1) \
    && pass "health check: $out" || fail "health check: $out"
  out=$(docker run --rm --label dev.agentdock.test=fixture --network none "$img" --version 2>&1) && rc=0 || rc=$?
  if [ "$rc" = 0 ] && grep -q '^agentdock ' <<<"$out" && grep -q 'Claude Code' <<<"$out"; then
    pass "version: $(tr '\n' ' ' <<<"$out")"
  else fail "version (exit $rc): $out"; fi

  if [ ! -r "$server" ]; then
    fail "task: $server not found (run from the agentdock source tree)"
  else
    docker run -d --name "$sidecar" --label dev.agentdock.test=fixture --network none \
      -v "$(cd "$(dirname "$server")" && pwd)/model_server.py":/srv/model_server.py:ro \
      -e MODEL_LOG=/tmp/model-requests.jsonl \
      -e MODEL_SCRIPT='[{"bash": "echo made-by-task > marker.txt"}, {"text": "All done."}]' \
      --entrypoint python3 "$img" /srv/model_server.py >/dev/null
    for i in $(seq 1 50); do
      docker logs "$sidecar" 2>&1 | grep -q 'model server listening' && break
      sleep 0.1
    done
    docker run --name "$task" --label dev.agentdock.test=fixture --network "container:$sidecar" \
      -v "$tmp/ws":/workspace -v "$tmp/task":/agentdock/task \
      -e TASK='Create marker.txt, please.' -e SESSION_ID=imgtest -e TIMEOUT=60 -e BUNDLE_BASE="$base" \
      -e ANTHROPIC_BASE_URL=http://127.0.0.1:8765 -e ANTHROPIC_API_KEY=test \
      "$img" >"$tmp/task-stdout.log" 2>&1 && rc=0 || rc=$?
    [ "$rc" = 0 ] && pass "task exit code 0" || fail "task exit code $rc: $(tail -n 5 "$tmp/task-stdout.log")"
    [ "$(cat "$tmp/ws/marker.txt" 2>/dev/null)" = made-by-task ] && pass "task: marker.txt written in the workspace" \
      || fail "task: marker.txt missing in the workspace"
    state=$(cat "$tmp/task/state" 2>/dev/null || echo none)
    [ "$state" = succeeded ] && pass "task: state succeeded" || fail "task: state $state: $(cat "$tmp/task/result.json" 2>/dev/null)"
    if [ -s "$tmp/task/result.bundle" ] && git -C "$tmp/ws" -c safe.directory="*" bundle verify -q "$tmp/task/result.bundle" >/dev/null 2>&1; then
      pass "task: result.bundle verifies"
    elif [ "$(git -C "$tmp/ws" -c safe.directory='*' rev-list --count "$base"..refs/heads/agentdock/task-imgtest 2>/dev/null)" -ge 1 ] 2>/dev/null; then
      pass "task: commit on agentdock/task-imgtest (no bundle)"
    else
      fail "task: neither result.bundle nor a commit"
    fi
  fi
  if [ "$fails" = 0 ]; then echo "PASS image $img"; else echo "FAIL image $img: $fails check(s) failed"; fi
  [ "$fails" = 0 ]
}
tag=${AGENTDOCK_IMAGE:-agentdock/agent:latest}
default_base=agentdock/base:bookworm
base=$default_base
ca=${AGENTDOCK_CA_BUNDLE:-${SSL_CERT_FILE:-}}
# else the host's system bundle: whatever the host trusts (a proxy's CA included), the build does
if [ -z "$ca" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then ca=/etc/ssl/certs/ca-certificates.crt; fi
if_missing=0
no_cache=()
mode=build
mirror=http://deb.debian.org/debian
if [ "${1:-}" = test ]; then mode=test; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --ca-bundle) ca=$2; shift 2 ;;
    --no-ca) ca=; shift ;;
    --if-missing) if_missing=1; shift ;;
    --no-cache) no_cache=(--no-cache); shift ;;
    --mirror) mirror=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$mode" = test ]; then
  image_test "$tag"
  exit $?
fi

version=${AGENTDOCK_VERSION:-$(sed -n 's/^version *= *"\(.*\)".*/\1/p' "$here/../Cargo.toml" 2>/dev/null | head -n1)}
version=${version:-dev}
# what the image is built from: a change to any of these files (or the version) means a rebuild
hash=$(cd "$here" && { cat Dockerfile $(ls *.sh *.py | grep -v -e build-image.sh -e ensure-engine.sh -e image-lib.sh | sort); echo "$version"; } | sha256sum | cut -c1-16)
if [ "$if_missing" = 1 ]; then
  skip_if_up_to_date "$tag" "$hash" "image"
fi
ensure_base "$base" "$default_base" "$mirror"

ctx=$(mktemp -d /tmp/agentdock-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "$here"/Dockerfile "$here"/*.sh "$here"/*.py "$ctx"/
rm -f "$ctx"/build-image.sh "$ctx"/ensure-engine.sh
if [ -n "$ca" ]; then
  [ -r "$ca" ] || { echo "CA bundle $ca is not readable" >&2; exit 1; }
  cp "$ca" "$ctx/extra-ca.crt"
  echo "adding CA bundle $ca to the image"
else
  : > "$ctx/extra-ca.crt"
fi
echo "building $tag ($version) on $base"
DOCKER_BUILDKIT=0 docker build ${no_cache[@]+"${no_cache[@]}"} --build-arg BASE="$base" --build-arg AGENTDOCK_VERSION="$version" \
  --label "dev.agentdock.image-hash=$hash" -t "$tag" "$ctx"
