#!/usr/bin/env bash
# The reliability suite's longer profiles, one command each, loopback only, bounded in time.
# CI runs the short profile of every one of these as part of scripts/test.sh (tests marked
# `reliability`); this script runs them longer and keeps their figures as JSON lines in
# .reliability-out/ (the numbers RELIABILITY.md quotes).
#
#   scripts/reliability.sh crash [--minutes N] [--backend sqlite|postgresql] [--seed S]
#   scripts/reliability.sh schema [--examples N]          # per operation and mode
#   scripts/reliability.sh parsers [--examples N] [--keep] # --keep grows tests/reliability/corpus
#   scripts/reliability.sh connections [--scale X]       # X times the CI connection counts
#   scripts/reliability.sh floods [--scale X]
#   scripts/reliability.sh disk | secrecy
#   scripts/reliability.sh bounds [--scale X]            # resource bounds; 2: the issue's sizes
#   scripts/reliability.sh all                           # every profile at its long default
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test  # idempotent; adds the dev extra to a .venv that scripts/run.sh made

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
profile=$1; shift
export RELIABILITY_OUT=${RELIABILITY_OUT:-$PWD/.reliability-out}
mkdir -p "$RELIABILITY_OUT"
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) export RELIABILITY_SECONDS=$(( $2 * 60 )); shift 2 ;;
    --seconds) export RELIABILITY_SECONDS=$2; shift 2 ;;
    --backend) export RELIABILITY_BACKENDS=$2; shift 2 ;;
    --seed) export RELIABILITY_SEED=$2; shift 2 ;;
    --examples) export RELIABILITY_EXAMPLES=$2 RELIABILITY_SCHEMA_EXAMPLES=$2; shift 2 ;;
    --keep) export RELIABILITY_KEEP=1; shift ;;
    --scale) export RELIABILITY_SCALE=$2; shift 2 ;;
    *) usage ;;
  esac
done

run() {
  # no per-test timeout for the long profiles: each run bounds itself
  .venv/bin/python -m pytest -p no:cacheprovider -q -s -o timeout=0 "$@"
}
T=tests/reliability
case $profile in
  crash) : "${RELIABILITY_SECONDS:=600}"; export RELIABILITY_SECONDS
         run "$T/test_crash.py" -k "sigkill" ;;
  schema) : "${RELIABILITY_SCHEMA_EXAMPLES:=500}"; export RELIABILITY_SCHEMA_EXAMPLES
          run "$T/test_schema_fuzz.py" ;;
  parsers) : "${RELIABILITY_EXAMPLES:=5000}"; export RELIABILITY_EXAMPLES
           run "$T/test_parsers.py" ;;
  connections) : "${RELIABILITY_SCALE:=5}"; export RELIABILITY_SCALE
               run "$T/test_connections.py" ;;
  floods) : "${RELIABILITY_SCALE:=5}"; export RELIABILITY_SCALE
          run "$T/test_floods.py" ;;
  disk) run "$T/test_disk.py" ;;
  secrecy) run "$T/test_secrecy.py" ;;
  bounds) : "${RELIABILITY_SCALE:=2}"; export RELIABILITY_SCALE
          run "$T/test_quota_memory.py" "$T/test_body_shares.py" "$T/test_lane_budget.py" \
              "$T/test_disk.py" -k "quota or held_bodies or lane_budget or wal"
          RELIABILITY_SCALE=5 run "$T/test_cli_input.py" ;;
  all) for p in crash schema parsers connections floods disk secrecy bounds; do "$0" "$p"; done ;;
  *) usage ;;
esac
echo "figures: $RELIABILITY_OUT"
