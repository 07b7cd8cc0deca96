#!/usr/bin/env bash
# Make the Debian base image that deploy/Containerfile builds on, without an image registry:
# debootstrap a minimal Debian (the same package set as debian:bookworm-slim) from the Debian
# mirror this machine's apt uses, and import it into buildah's local storage.
#
#   scripts/container-base.sh          # prints the image name, e.g. localhost/invitekit-base:bookworm-1a2b3c4d5e6f
#
# Runs as root (debootstrap and buildah need it). Cheap when done before: the image is
# found in buildah's storage, or re-imported from the root file system's tarball cached
# under var/container/ (gitignored); only the first run on a machine downloads packages.
# With a registry at hand, skip this and build FROM docker.io/library/debian:bookworm-slim.
set -euo pipefail
cd "$(dirname "$0")/.."

suite="${INVITEKIT_BASE_SUITE:-bookworm}"
cache="var/container"
mkdir -p "$cache"

# The mirror: the first deb.debian.org-style "debian" URI apt is configured with.
mirror="$(grep -rhoE '^(URIs:|deb)[[:space:]]+[^[:space:]]+/debian/?([[:space:]]|$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
          | awk '{print $2}' | head -n1 || true)"
mirror="${INVITEKIT_BASE_MIRROR:-${mirror:-http://deb.debian.org/debian}}"
security="${mirror%/debian}/debian-security"

# What the image is made of names it: change the recipe and a new image is made.
recipe="suite=$suite variant=minbase mirror=$mirror security=$security $(sha256sum "$0" | cut -c1-16)"
key="$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
image="localhost/invitekit-base:$suite-$key"
tarball="$cache/base-$suite-$key.tar"

exec 9>"$cache/.base.lock"
flock 9

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

if [ ! -f "$tarball" ]; then
  rootfs="$(mktemp -d "$PWD/$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$PWD/$cache/debs"
  debootstrap --variant=minbase --cache-dir="$PWD/$cache/debs" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$suite" "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
  # As slim as debian:*-slim: no package lists, no downloaded .debs, no docs.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
fi

ctr="$(buildah from scratch)"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$tarball" / >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd /bin/bash --label org.opencontainers.image.description="Debian $suite minbase (debootstrap)" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$image" >/dev/null
trap - EXIT
echo "$image"
