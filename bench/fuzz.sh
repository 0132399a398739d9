#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for EXECS executions (default one million) on one
# worker each, and prints one line per target: package, target, executions, time, new
# interesting inputs. A crasher fails the run; `go test` saves it under testdata/fuzz, where
# it becomes a regression case of the package's tests.
#
#   bench/fuzz.sh                 # all targets, 1,000,000 executions each
#   EXECS=200000 bench/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EXECS=${EXECS:-1000000}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
printf '%-22s %-32s %12s %9s %s\n' package target executions seconds "new inputs"
for f in $(grep -rl --include='*_test.go' '^func Fuzz' --exclude-dir=node_modules . | sort); do
  pkg=./$(dirname "${f#./}")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    start=$(date +%s.%N)
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="${EXECS}x" -parallel=1 "$pkg" >"$LOG" 2>&1; then
      cat "$LOG"
      exit 1
    fi
    end=$(date +%s.%N)
    last=$(grep -o 'execs: [0-9]*.*new interesting: [0-9]*' "$LOG" | tail -1 || true)
    execs=$(sed -E 's/execs: ([0-9]+).*/\1/' <<<"$last")
    news=$(sed -E 's/.*new interesting: ([0-9]+).*/\1/' <<<"$last")
    printf '%-22s %-32s %12s %9.0f %s\n' "$pkg" "$target" "${execs:-?}" "$(echo "$end - $start" | bc)" "${news:-?}"
  done
done
