#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for EXECS executions (default one million) on one
# worker each (-parallel 1: the machine stays usable), one target at a time, and prints one
# line per target: package, target, executions, wall seconds, new interesting inputs, result.
# These are the figures of FUZZING.md. A crasher does not stop the run: its log is printed,
# `go test` has saved the input under the package's testdata/fuzz (commit it with the fix: it
# is then a regression case of the package's tests), and the script exits 1 at the end.
#
#   bench/fuzz.sh                              # all targets, 1,000,000 executions each
#   EXECS=200000 bench/fuzz.sh
#   ONLY='FuzzJWTVerify|FuzzHandler' bench/fuzz.sh   # targets whose name matches (grep -E)
#
# MINIMIZE bounds the work spent shrinking each new interesting input (go test's
# -fuzzminimizetime, default 60s there, 100 executions here): with go's default, a target that
# keeps finding coverage spends most of its run minimizing rather than executing.
# While the file named by HOLD exists, the next target waits (keeps a benchmark run on the
# same machine free of fuzzing).
set -uo pipefail
cd "$(dirname "$0")/.."
EXECS=${EXECS:-1000000}
ONLY=${ONLY:-.}
MINIMIZE=${MINIMIZE:-100x}
HOLD=${HOLD:-}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
failed=0
printf '%-22s %-30s %11s %8s %5s %s\n' package target executions seconds new result
for f in $(grep -rl --include='*_test.go' '^func Fuzz' --exclude-dir=node_modules . | sort); do
  pkg=./$(dirname "${f#./}")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2 | grep -E "$ONLY"); do
    while [ -n "$HOLD" ] && [ -e "$HOLD" ]; do sleep 1; done
    start=$(date +%s.%N)
    result=ok
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="${EXECS}x" -fuzzminimizetime="$MINIMIZE" -parallel=1 "$pkg" >"$LOG" 2>&1; then
      result=FAIL
      failed=1
      cat "$LOG" >&2
    fi
    end=$(date +%s.%N)
    last=$(grep -o 'execs: [0-9]*.*new interesting: [0-9]*' "$LOG" | tail -1 || true)
    execs=$(sed -E 's/execs: ([0-9]+).*/\1/' <<<"$last")
    news=$(sed -E 's/.*new interesting: ([0-9]+).*/\1/' <<<"$last")
    printf '%-22s %-30s %11s %8.0f %5s %s\n' "$pkg" "$target" "${execs:-?}" "$(echo "$end - $start" | bc)" "${news:-?}" "$result"
  done
done
exit $failed
