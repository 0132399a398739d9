#!/usr/bin/env bash
# Runs mcpauth's benchmarks against their peers in one run: every server under test pinned to
# CPU 0 (taskset), the load generator on CPU 1, 32 concurrent connections, DURATION per side.
#
#   bench/run.sh                      # all benchmarks, 10s per side
#   BENCH=ToolCall DURATION=5s bench/run.sh
#   WARMUP=3s bench/run.sh            # load on each server before it is measured (default 10s)
#
# PostgreSQL figures need MCPAUTH_TEST_POSTGRES_DSN (as scripts/test.sh sets); when it is unset
# and PostgreSQL is installed, a throwaway server is started here.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/mcpauth-bench.XXXXXX)
chmod 755 "$WORK"
PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)" 2>/dev/null || true)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -f "$WORK/pg/postmaster.pid" ]; then as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -x test/node_modules/node/bin/node ]; then
  (cd test && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ -z "${MCPAUTH_TEST_POSTGRES_DSN:-}" ] && [ -x "$PGBIN/initdb" ]; then
  PGPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  mkdir -p "$WORK/pg" && { [ "$(id -u)" != 0 ] || chown postgres "$WORK/pg"; }
  as_pg "$PGBIN/initdb" -D "$WORK/pg" -U mcpauth --auth=trust -E UTF8 >/dev/null
  # fsync on, as in production: a registration or token is durable before the answer.
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w -o "-p $PGPORT -k $WORK/pg -h 127.0.0.1 -c fsync=on -c max_connections=300" start >/dev/null
  export MCPAUTH_TEST_POSTGRES_DSN="postgres://mcpauth@127.0.0.1:$PGPORT/postgres?sslmode=disable"
fi

export MCPAUTH_BENCH_CPU=${MCPAUTH_BENCH_CPU:-0} MCPAUTH_BENCH_LOADGEN_CPU=1
go test -c -o "$WORK/bench.test" ./bench/
cd bench
taskset -c 1 "$WORK/bench.test" -test.run '^$' -test.bench "${BENCH:-^Benchmark(Token|Registration|ToolCall)}" -test.benchtime=1x -test.timeout 60m \
  -bench.duration "${DURATION:-10s}" -bench.warmup "${WARMUP:-10s}" -bench.conns 32
