#!/usr/bin/env bash
# SCEP enrollment load test: certdrop vs micromdm's scepserver (Debian package `scep`),
# both with an RSA-2048 CA and a static challenge, driven by the same client
# (benches/load.rs). Loopback only.
#
#   scripts/loadtest.sh                                # 2000 requests, 8 threads, both servers
#   REQUESTS=500 CONCURRENCY=32 scripts/loadtest.sh
#   SERVERS=certdrop scripts/loadtest.sh              # only certdrop (or SERVERS=scepserver)
#   SKIP_BUILD=1 KEEP=1 scripts/loadtest.sh           # reuse the build; keep the temp dir
#
# Env: REQUESTS (2000) CONCURRENCY (8) WARMUP (20) KEYS (64) CHALLENGE
#      CERTDROP_PORT (18090) SCEP_PORT (18091) SERVERS ("certdrop scepserver")
#      SKIP_BUILD KEEP
# Each client request is one HTTP/1.1 POST on its own connection (Connection: close).
# Both servers' CPU time during the timed run is read from /proc and printed after the
# summaries. The load tool exits 2 when not every request got a unique certificate; that is a
# result, not a script failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REQUESTS=${REQUESTS:-2000}
CONCURRENCY=${CONCURRENCY:-8}
WARMUP=${WARMUP:-20}
KEYS=${KEYS:-64}
CHALLENGE=${CHALLENGE:-loadtest-static-challenge}
CERTDROP_PORT=${CERTDROP_PORT:-18090}
SCEP_PORT=${SCEP_PORT:-18091}
SERVERS=${SERVERS:-certdrop scepserver}
SCEPSERVER=${SCEPSERVER:-/usr/bin/scepserver}

cd "$ROOT"
WORK=$(mktemp -d /tmp/certdrop-load.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP:-}" ]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release
  cargo bench --bench load --no-run 2>&1 | tee "$WORK/bench-build.log"
  LOAD_BIN=$(grep -o 'target/release/deps/load-[0-9a-f]*' "$WORK/bench-build.log" | tail -1)
else
  LOAD_BIN=$(ls -t target/release/deps/load-* 2>/dev/null | grep -v '\.d$' | head -1 || true)
fi
# The built binary is run directly, so a source edit during the run cannot trigger a rebuild.
[ -n "$LOAD_BIN" ] && [ -x "$LOAD_BIN" ] || { echo "load tool binary not found" >&2; exit 1; }
echo "load tool: $LOAD_BIN"

# Wait until GET URL answers 200 (at most 60 s).
wait_http() {
  local url=$1 pid=$2 i
  for i in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "server exited early" >&2
      return 1
    fi
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "server at $url did not become ready" >&2
  return 1
}

# utime+stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_load NAME URL PID: runs the load tool, writes $WORK/NAME.summary (and .cpu).
run_load() {
  local name=$1 url=$2 pid=$3 rc=0 before after
  echo
  echo "=== $name: $REQUESTS requests, concurrency $CONCURRENCY, warmup $WARMUP ==="
  echo "uptime: $(uptime)"
  before=$(cpu_ticks "$pid")
  "$LOAD_BIN" --url "$url" --challenge "$CHALLENGE" \
    --requests "$REQUESTS" --concurrency "$CONCURRENCY" --warmup "$WARMUP" \
    --keys "$KEYS" --label "$name" >"$WORK/$name.summary" || rc=$?
  after=$(cpu_ticks "$pid")
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    echo "load tool failed against $name (exit $rc)" >&2
    return "$rc"
  fi
  # CPU includes the warmup and key-less GetCACert; the per-request figure divides by all
  # requests sent.
  awk -v t=$((after - before)) -v n=$((REQUESTS + WARMUP)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "server_cpu_s      %.2f\nserver_cpu_ms_req %.2f\n", t / hz, 1000 * t / hz / n }' \
    >>"$WORK/$name.summary"
  cat "$WORK/$name.summary"
}

run_certdrop() {
  local dir=$WORK/certdrop pid
  mkdir -p "$dir"
  # From an empty directory so no ./certdrop.toml is picked up; no passphrase on the CA key.
  (cd "$dir" && exec env -u CERTDROP_CA_KEY_PASSPHRASE -u CERTDROP_CONFIG NO_COLOR=1 \
    "$ROOT/target/release/certdrop" --data-dir "$dir/data" serve \
    --listen "127.0.0.1:$CERTDROP_PORT" --ca-key-bits 2048 --challenge "$CHALLENGE" \
    >"$dir/server.log" 2>&1) &
  pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$CERTDROP_PORT/healthz" "$pid" ||
    { tail -20 "$dir/server.log" >&2; return 1; }
  run_load certdrop "http://127.0.0.1:$CERTDROP_PORT/scep" "$pid"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

run_scepserver() {
  local dir=$WORK/scepserver pid
  mkdir -p "$dir"
  [ -x "$SCEPSERVER" ] || { echo "$SCEPSERVER missing (apt-get install scep)" >&2; return 1; }
  (cd "$dir" && "$SCEPSERVER" ca -init -depot "$dir/depot" -keySize 2048 \
    -organization "certdrop load test" >"$dir/ca-init.log" 2>&1) ||
    { cat "$dir/ca-init.log" >&2; return 1; }
  # scepserver has no listen-address option: it binds :PORT; the load goes to 127.0.0.1 only.
  (cd "$dir" && exec "$SCEPSERVER" -depot "$dir/depot" -port "$SCEP_PORT" \
    -challenge "$CHALLENGE" -allowrenew 0 >"$dir/server.log" 2>&1) &
  pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$SCEP_PORT/scep?operation=GetCACaps" "$pid" ||
    { tail -20 "$dir/server.log" >&2; return 1; }
  run_load scepserver "http://127.0.0.1:$SCEP_PORT/scep" "$pid"
  # go-kit logfmt: err=null on success; group the others by their err="..." field.
  echo "scepserver log lines with an error: $(grep -c 'err="' "$dir/server.log" || true)"
  grep -o 'err="[^"]*"' "$dir/server.log" | sort | uniq -c | sort -rn | head -5 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

for s in $SERVERS; do
  case $s in
    certdrop) run_certdrop ;;
    scepserver) run_scepserver ;;
    *) echo "unknown server $s" >&2; exit 1 ;;
  esac
done

# Side by side: one column per server, keyed by the summary's first word.
echo
echo "=== side by side ==="
files=()
for s in $SERVERS; do files+=("$WORK/$s.summary"); done
awk '
  { key = $1; $1 = ""; sub(/^ /, ""); if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    val[key, FILENAME] = $0; if (!(FILENAME in fseen)) { fseen[FILENAME] = 1; f[++nf] = FILENAME } }
  END {
    for (i = 1; i <= n; i++) {
      line = sprintf("%-18s", order[i])
      for (j = 1; j <= nf; j++) line = line sprintf(" | %-44s", val[order[i], f[j]])
      print line
    }
  }' "${files[@]}"
