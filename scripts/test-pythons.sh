#!/usr/bin/env bash
# The core (sans-IO) tests on every other Python version the package claims.
#
# The versions are pyproject.toml's "Programming Language :: Python :: 3.N" classifiers; the
# one .venv runs (scripts/test.sh's full suite) is left out. Each other version gets its own
# virtual environment, .venv-3.N, with invitekit (editable), the `mls` extra (the tests'
# real MLS groups) and the `test` extra, then runs CORE_TESTS (tests/unit). The interpreter is found on
# PATH as python3.N or under pyenv's versions; a claimed version that is missing is an
# error, never a silent skip. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# The unit layer: pure tests of the library (no socket, subprocess, browser or server).
# tests/unit/service needs the service package, which these environments do not install.
CORE_TESTS=(tests/unit --ignore=tests/unit/service)

mapfile -t versions < <(.venv/bin/python - <<'EOF'
import sys, tomllib
prefix = "Programming Language :: Python :: 3."
classifiers = tomllib.load(open("pyproject.toml", "rb"))["project"]["classifiers"]
mine = f"3.{sys.version_info.minor}"
for c in classifiers:
    if c.startswith(prefix) and c[len(prefix):].isdigit() and f"3.{c[len(prefix):]}" != mine:
        print(f"3.{c[len(prefix):]}")
EOF
)

find_python() {  # the newest interpreter of version $1 that runs
  local candidate
  local pyenv_root
  pyenv_root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
  for candidate in $(ls -d "$pyenv_root"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -V -r) \
                   "$(command -v "python$1" || true)"; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

for version in "${versions[@]}"; do
  if ! python="$(find_python "$version")"; then
    echo "test-pythons: Python $version is claimed (pyproject classifiers) but not found:" \
         "install it (pyenv install $version) or put python$version on PATH" >&2
    exit 2
  fi
  venv=".venv-$version"
  stamp="$venv/.invitekit-installed"
  want="$(sha256sum pyproject.toml | cut -d" " -f1) $("$python" --version 2>&1)"
  (
    flock 9
    if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
      rm -rf "$venv"
      "$python" -m venv "$venv"
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[mls,test]"
      echo "$want" > "$stamp"
    fi
  ) 9>.setup.lock
  echo "--- core tests on $("$venv/bin/python" --version) ---"
  env -u PYTHONPATH "$venv/bin/python" -m pytest -q -p no:cacheprovider "${CORE_TESTS[@]}" "$@"
done
