#!/usr/bin/env bash
# Side-by-side: pgrelay's memcached listener vs a real memcached 1.6 serving the same values.
#
#   bench/memcached/run.sh [pgrelay-host:port]
#
# With an address, benchmarks that running pgrelay (the full host, replicating from PostgreSQL). Without one,
# starts bench/memcached/BenchHost: pgrelay's memcached listener over a synthetic table of $ROWS rows, no
# PostgreSQL. Either way the keys come from the pgrelay side (memcdump, i.e. stats cachedump), every value is
# copied byte for byte into memcached (get from pgrelay, set into memcached), and then the same bounded load
# (fixed request counts, one process-wide timeout) runs against each. Results go to bench/memcached/results/.
#
# Knobs (environment): ROWS=100000 KEYS=10000 REQUESTS=200000 CONNECTIONS=4 PIPELINE=16 MULTIGET=50 TIMEOUT=600
# memcslap is not used: its get test stores and reads its own generated keys, and pgrelay refuses writes.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ROWS="${ROWS:-100000}"
KEYS="${KEYS:-10000}"
REQUESTS="${REQUESTS:-200000}"
CONNECTIONS="${CONNECTIONS:-4}"
PIPELINE="${PIPELINE:-16}"
MULTIGET="${MULTIGET:-50}"
TIMEOUT="${TIMEOUT:-600}"
PGRELAY="${1:-}"

for tool in memcached memcdump dotnet python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y memcached libmemcached-tools)" >&2; exit 2; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 200); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; return 1
}

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

echo "building the load generator..."
dotnet build -c Release -v q --nologo "$HERE/LoadGen/LoadGen.csproj" >/dev/null
LOADGEN=(dotnet "$HERE/LoadGen/bin/Release/net10.0/LoadGen.dll")

if [[ -z "$PGRELAY" ]]; then
  dotnet build -c Release -v q --nologo "$HERE/BenchHost/BenchHost.csproj" >/dev/null
  PG_PORT="$(free_port)"
  timeout "$TIMEOUT" dotnet "$HERE/BenchHost/bin/Release/net10.0/BenchHost.dll" "$PG_PORT" "$ROWS" "$TIMEOUT" >"$WORK/benchhost.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PG_PORT"
  PGRELAY="127.0.0.1:$PG_PORT"
  SOURCE="BenchHost (synthetic table, $ROWS rows, no PostgreSQL)"
else
  SOURCE="pgrelay host at $PGRELAY"
fi

MC_PORT="$(free_port)"
timeout "$TIMEOUT" memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -u root -m 1024 -t 4 >"$WORK/memcached.log" 2>&1 &
PIDS+=($!)
wait_port "$MC_PORT"
MEMCACHED="127.0.0.1:$MC_PORT"

echo "listing keys on $PGRELAY and copying their values into memcached $MEMCACHED..."
timeout 120 memcdump --servers="$PGRELAY" | head -n "$KEYS" >"$WORK/keys.txt" || true
[[ -s "$WORK/keys.txt" ]] || { echo "no keys listed by memcdump on $PGRELAY" >&2; exit 1; }
timeout 300 "${LOADGEN[@]}" copy "$PGRELAY" "$MEMCACHED" "$WORK/keys.txt"

bench() {  # <server> <mode> <pipeline>
  timeout "$TIMEOUT" "${LOADGEN[@]}" bench "$1" "$WORK/keys.txt" "$REQUESTS" "$CONNECTIONS" "$3" "$2" |
    sed -n 's/.*ops_per_sec=\([0-9]*\).*/\1/p'
}

echo "warming up both servers (JIT, connection pools); these runs are not reported..."
for server in "$MEMCACHED" "$PGRELAY"; do
  for mode in get mg; do
    timeout "$TIMEOUT" "${LOADGEN[@]}" bench "$server" "$WORK/keys.txt" "$REQUESTS" "$CONNECTIONS" "$PIPELINE" "$mode" >/dev/null
  done
  timeout "$TIMEOUT" "${LOADGEN[@]}" bench "$server" "$WORK/keys.txt" "$((REQUESTS / 10))" "$CONNECTIONS" 1 get >/dev/null
done

mkdir -p "$HERE/results"
OUT="$HERE/results/$(date -u +%Y-%m-%d)-memcached.txt"
{
  echo "# pgrelay memcached vs memcached $(memcached -V | awk '{print $2}'), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# pgrelay side: $SOURCE; memcached -t 4 -m 1024; $(nproc) cores shared by servers and load generator"
  echo "# $(wc -l <"$WORK/keys.txt") keys, $REQUESTS requests per run, $CONNECTIONS connections; values are the rows' JSON"
  printf '%-28s %14s %14s %8s\n' "workload" "memcached/s" "pgrelay/s" "ratio"
  for spec in "get:1" "get:$PIPELINE" "mg:$PIPELINE" "multiget:$MULTIGET"; do
    mode="${spec%%:*}"; depth="${spec##*:}"
    mc="$(bench "$MEMCACHED" "$mode" "$depth")"
    pg="$(bench "$PGRELAY" "$mode" "$depth")"
    label="$mode (pipeline $depth)"; [[ "$mode" == multiget ]] && label="get, $depth keys per request"
    printf '%-28s %14s %14s %8s\n' "$label" "$mc" "$pg" "$(python3 -c "print(f'{$pg/$mc:.2f}')")"
  done
} | tee "$OUT"
echo "written to $OUT"
