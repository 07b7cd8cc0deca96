#!/usr/bin/env bash
# Create .venv and install invitekit with everything its tests need. Idempotent, and safe
# to start twice at once (`scripts/run.sh & scripts/test.sh` on a fresh clone): the second
# waits on a lock, then finds the work done. pip's own cache is reused between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- one set-up at a time ----------------------------------------------------------------
exec 9>.setup.lock
flock 9

# --- Debian packages the tests drive (installed only when missing) ------------------------
# chromium: the invite landing page is tested in a real headless browser.
debian_packages=()
command -v chromium >/dev/null 2>&1 || debian_packages+=(chromium)
# npm: the landing page's QR library (package.json) comes from the npm registry.
command -v npm >/dev/null 2>&1 || debian_packages+=(npm)
# wrk, nginx: tests/test_bench_smoke.py runs every bench/ script once, tiny (bench_service
# compares the service with nginx; bench_scale drives load with wrk).
command -v wrk >/dev/null 2>&1 || debian_packages+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || debian_packages+=(nginx)
if [ "${#debian_packages[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${debian_packages[@]}" >/dev/null
fi

# --- browser assets of the landing page (package.json, package-lock.json) -----------------
npm_stamp="node_modules/.invitekit-installed"
npm_want="$(sha256sum package-lock.json | cut -d" " -f1)"
if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_want" ]; then
  npm ci --no-audit --no-fund --silent
  echo "$npm_want" > "$npm_stamp"
fi

# --- PostgreSQL server binaries for the PostgreSQL backend's tests and benchmarks -----------
# (tests/service/pg_local.py starts a private server from them; apt-get when missing)
scripts/setup-postgres.sh >/dev/null

# --- the virtual environment -------------------------------------------------------------
# The stamp names what was installed; a set-up killed half-way leaves no stamp.
stamp=".venv/.invitekit-installed"
want="$(sha256sum pyproject.toml | cut -d" " -f1) $(python3 --version 2>&1)"
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
rm -f "$stamp"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
echo "$want" > "$stamp"
