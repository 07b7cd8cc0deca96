#!/usr/bin/env bash
# Create .venv and install invitekit into it. Two profiles:
#
#   scripts/setup.sh run    what running the service needs, and nothing else: the `service`
#                           extra (SQLite needs no server). No root, apt, browser, npm,
#                           database server or dev tool. scripts/run.sh uses this.
#   scripts/setup.sh test   (the default) everything the tests need: the `dev` extra,
#                           Debian's chromium, postgresql, buildah, debootstrap, nginx and
#                           systemd-analyze, npm's package-lock.
#                           scripts/test.sh uses this.
#
# Idempotent, and safe to start twice at once (`scripts/run.sh & scripts/test.sh` on a fresh
# clone): the second waits on a lock, then finds the work done, or adds what it needs on top
# (a `test` set-up after a `run` one installs the rest into the same .venv). pip's own cache
# is reused between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-test}"
case "$profile" in
  run) extra="service" ;;
  test) extra="dev" ;;
  *) echo "usage: scripts/setup.sh [run|test]" >&2; exit 2 ;;
esac

# --- one set-up at a time ----------------------------------------------------------------
exec 9>.setup.lock
flock 9

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: invitekit needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1))" >&2
  exit 2
fi

if [ "$profile" = test ]; then
  # --- Debian packages the tests drive (installed only when missing) ----------------------
  # chromium: the invite landing page is tested in a real headless browser.
  debian_packages=()
  command -v chromium >/dev/null 2>&1 || debian_packages+=(chromium)
  # npm: package-lock's qrcode-generator, which the vendored copy must equal (a test).
  command -v npm >/dev/null 2>&1 || debian_packages+=(npm)
  # buildah, debootstrap: the container image test builds deploy/Containerfile on a Debian
  # base made here (no image registry); nginx, systemd-analyze: the deploy/ files' checks.
  command -v buildah >/dev/null 2>&1 || debian_packages+=(buildah)
  command -v debootstrap >/dev/null 2>&1 || debian_packages+=(debootstrap)
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || debian_packages+=(debian-archive-keyring)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || debian_packages+=(nginx)
  command -v systemd-analyze >/dev/null 2>&1 || debian_packages+=(systemd)
  # wrk: tests/e2e/test_bench_smoke.py runs every bench/ script once, tiny (bench_scale drives
  # load with wrk; bench_service compares the service with nginx).
  command -v wrk >/dev/null 2>&1 || debian_packages+=(wrk)
  if [ "${#debian_packages[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${debian_packages[@]}" >/dev/null
  fi

  # --- browser assets of the landing page (package.json, package-lock.json) ---------------
  npm_stamp="node_modules/.invitekit-installed"
  npm_want="$(sha256sum package-lock.json | cut -d" " -f1)"
  if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_want" ]; then
    npm ci --no-audit --no-fund --silent
    echo "$npm_want" > "$npm_stamp"
  fi

  # --- PostgreSQL server binaries for the PostgreSQL backend's tests and benchmarks ---------
  # (tests/integration/service/pg_local.py starts a private server from them; apt-get when missing)
  scripts/setup-postgres.sh >/dev/null
fi

# --- the virtual environment -------------------------------------------------------------
# The stamp names what was installed (pyproject's hash, the Python, the extra); a set-up
# killed half-way leaves no stamp. `dev` includes `service`, so it satisfies `run`.
stamp=".venv/.invitekit-installed"
base="$(sha256sum pyproject.toml | cut -d" " -f1) $(python3 --version 2>&1)"
if [ -x .venv/bin/python ] && [ -f "$stamp" ]; then
  have="$(cat "$stamp")"
  if [ "$have" = "$base $extra" ] || [ "$have" = "$base dev" ]; then
    exit 0
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
rm -f "$stamp"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extra]"
echo "$base $extra" > "$stamp"
