#!/usr/bin/env bash
# Build the invitekit-service container image with buildah, offline from any image registry:
#
#   scripts/container-build.sh [TAG]      # default localhost/invitekit-service:latest
#
# 1. the Debian base: scripts/container-base.sh (debootstrap, cached under var/container/);
# 2. a wheelhouse in var/wheels/: invitekit and every dependency of invitekit[service], made
#    by this machine's pip (its index, certificates and cache), so the build itself fetches
#    nothing but Debian's python3 package;
# 3. buildah build of deploy/Containerfile (root, --isolation chroot: no user namespaces or
#    rlimits needed; --layers reuses unchanged steps).
# Prints the image name. PYTHON names the interpreter whose pip makes the wheelhouse; it
# must be the container's Python minor version (Debian bookworm: 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/invitekit-service:latest}"
python="${PYTHON:-.venv/bin/python}"

base="$(scripts/container-base.sh)"

want="3.11"
have="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$have" != "$want" ]; then
  echo "error: the wheelhouse needs Python $want (the image's), $python is $have" >&2
  exit 2
fi
mkdir -p var/wheels
rm -f var/wheels/invitekit-*.whl
"$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir var/wheels '.[service]' \
  2> >(grep -v "^WARNING: Location 'file:" >&2)

previous="$(buildah inspect --type image --format '{{.FromImageID}}' "$tag" 2>/dev/null || true)"
buildah build --quiet --isolation chroot --format docker --layers --force-rm \
  --build-arg BASE="$base" -f deploy/Containerfile -t "$tag" . >/dev/null
# The image this tag named before is now unnamed: drop it unless something still uses it.
current="$(buildah inspect --type image --format '{{.FromImageID}}' "$tag")"
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  buildah rmi "$previous" >/dev/null 2>&1 || true
fi
echo "$tag"
