#!/usr/bin/env bash
# Where each server's CPU goes in a benchmark: runs bench/run.sh with `perf record` attached to
# every server process it starts (mcpauth serve, oidc-provider, the benchserver sides) and prints,
# for each, the functions with the largest share of its samples, callees included, then the
# largest by own time.
#
#   BENCH=TokenClientCredentials DURATION=10s bench/profile.sh > bench/profiles/client_credentials.txt
#
# Needs perf (Debian linux-perf) and permission to attach to a process (root, or
# kernel.perf_event_paranoid <= 1). The figures of the run itself are printed first, as
# bench/run.sh prints them; profiling costs the servers a few percent. KEEP=1 keeps the perf
# data (one file per server) in the /tmp/mcpauth-profile.* directory for perf report.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "bench/profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/mcpauth-profile.XXXXXX)
trap 'kill "$watch" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

# Each server process is recorded from shortly after it starts until it exits (perf attached
# to it sees every thread and resolves its symbols); "pid argv..." of each is in servers.
( while sleep 0.5; do
    for pid in $(pgrep -f 'mcpauth serve|benchserver -mode|oidc-provider.mjs'); do
      [ -e "$WORK/$pid.seen" ] && continue
      touch "$WORK/$pid.seen"
      mapfile -d '' -t argv 2>/dev/null < "/proc/$pid/cmdline" || continue
      echo "$pid ${argv[*]}" >> "$WORK/servers"
      perf record -q -F 999 -g -p "$pid" -o "$WORK/$pid.data" 2>/dev/null &
    done
  done ) &
watch=$!

bench/run.sh
kill "$watch" 2>/dev/null || true
while pgrep -f "perf record .*-o $WORK/" >/dev/null; do sleep 0.2; done # each ends with its server

set +o pipefail # head ends perf report's output early
echo
echo "CPU profiles of the servers (perf record -F 999 -g of each process; shares of its samples)"
while read -r -u 3 pid args; do
  data=$WORK/$pid.data
  samples=$(perf report -i "$data" --stdio -g none --sort comm 2>/dev/null | awk '/^# Samples:/ {print $3; exit}')
  [ -n "$samples" ] || continue
  echo
  echo "== ${args:0:160}"
  echo "   ($samples samples)"
  echo "-- with callees (top 40)"
  perf report -i "$data" --children --sort sym -q -g none 2>/dev/null |
    awk 'NF {printf "%8s %8s  ", $1, $2; for (i = 4; i <= NF; i++) printf "%s ", $i; print ""}' | cut -c1-170 | head -40
  echo "-- own time (top 20)"
  perf report -i "$data" --no-children --sort sym -q -g none 2>/dev/null |
    awk 'NF && $1 ~ /%$/ {printf "%8s  ", $1; for (i = 3; i <= NF; i++) printf "%s ", $i; print ""}' | cut -c1-170 | head -20
done 3< <(sort -n "$WORK/servers")
