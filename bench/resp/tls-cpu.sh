#!/usr/bin/env bash
# Server CPU per request over TLS, steady state: redis-server 7 vs pgrelay's BenchHost, HGET, 50 clients.
#
#   bench/resp/tls-cpu.sh                 # -P1, 50,000 requests per run over 50 kept connections
#   P=16 N=200000 bench/resp/tls-cpu.sh   # pipelined
#   EXTRA="-k 0" N=3000 bench/resp/tls-cpu.sh   # a new connection (a full handshake) per request
#
# bench/resp/run.sh's TLS rows open 50 fresh connections for a few thousand requests, so handshakes (about 1 ms of
# CPU each, on both servers) weigh in; this script warms both servers up first (connections, JIT) and then measures
# only the record work: each server's user+system time from /proc during the run, divided by the requests. CPU per
# request depends far less on the machine's load than throughput does. Bounded: fixed counts, every process under
# timeout. Knobs: N=50000 P=1 ROUNDS=2 EXTRA=
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
N="${N:-50000}"; P="${P:-1}"; ROUNDS="${ROUNDS:-2}"; EXTRA="${EXTRA:-}"
WORK="$(mktemp -d)"; PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"

dotnet publish -c Release -v q --nologo -r linux-x64 --self-contained false -o "$WORK/host" "$HERE/BenchHost/BenchHost.csproj" >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
RP="$(free_port)"; RT="$(free_port)"; PP="$(free_port)"; PT="$(free_port)"
timeout 600 redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --tls-port "$RT" \
  --tls-cert-file "$WORK/cert.pem" --tls-key-file "$WORK/key.pem" --tls-auth-clients no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
BENCH_TLS_PORT="$PT" BENCH_TLS_CERT="$WORK/cert.pem" BENCH_TLS_KEY="$WORK/key.pem" \
  timeout 600 dotnet "$WORK/host/BenchHost.dll" serve "$PP" 10000 600 >"$WORK/host.log" 2>&1 &
PIDS+=($!)
for port in "$RP" "$PP"; do
  for _ in $(seq 1 300); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
done
timeout 300 dotnet "$WORK/host/BenchHost.dll" hset 10000 | timeout 300 redis-cli -p "$RP" --pipe | tail -1
REDIS="$(pgrep -P "${PIDS[0]}" | head -1)"; PGRELAY="$(pgrep -P "${PIDS[1]}" | head -1)"   # timeout's children

run() {  # <pid> <port> -> µs of server CPU per request
  local before after
  before="$(ticks "$1")"
  # shellcheck disable=SC2086
  timeout 300 redis-benchmark -h 127.0.0.1 -p "$2" --tls --insecure -c 50 -n "$N" -r 10000 -P "$P" $EXTRA --csv \
    HGET 'pub.accounts.__rand_int__' email 2>/dev/null | tail -1 >/dev/null
  after="$(ticks "$1")"
  awk -v t=$((after - before)) -v hz="$TICKS" -v n="$N" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'
}
run "$REDIS" "$RT" >/dev/null; run "$PGRELAY" "$PT" >/dev/null   # warm-up, not reported
echo "TLS HGET -P$P ${EXTRA:+($EXTRA) }$N requests, µs of server CPU per request; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  if (( round % 2 )); then r="$(run "$REDIS" "$RT")"; g="$(run "$PGRELAY" "$PT")"
  else g="$(run "$PGRELAY" "$PT")"; r="$(run "$REDIS" "$RT")"; fi
  echo "round $round: redis $r, pgrelay $g"
done
