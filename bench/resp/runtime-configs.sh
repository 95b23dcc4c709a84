#!/usr/bin/env bash
# How the .NET runtime's settings change pgrelay's Redis listener: as shipped (workstation concurrent GC, ReadyToRun,
# tiered PGO off), JIT only with and without tiered PGO, ReadyToRun with PGO, workstation non-concurrent GC, server GC
# (which in .NET 10 adapts its heap count to the load, "DATAS"), tiered compilation off, and Native AOT (of BenchHost, i.e. the listener, store and protocol; the full executable's
# Npgsql/ASP.NET side is not part of this measurement). For each: time from start to the first answered PING with ROWS rows loaded, RSS then, and
# HGET throughput and server CPU per request unpipelined and pipelined (redis-benchmark, fixed request counts).
# CPU per request is the figure to trust on a busy machine; throughput needs a quiet one.
#
#   bench/resp/runtime-configs.sh        Knobs: ROWS=100000 REQUESTS=200000 CLIENTS=50 TIMEOUT=600 ROUNDS=1
#   VARIANTS="shipped jit nopgo r2r" ROUNDS=3 bench/resp/runtime-configs.sh   (alternating; writes results/runtime-*.md)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROWS="${ROWS:-100000}"; REQUESTS="${REQUESTS:-200000}"; CLIENTS="${CLIENTS:-50}"; TIMEOUT="${TIMEOUT:-600}"
ROUNDS="${ROUNDS:-1}"; VARIANTS="${VARIANTS:-shipped jit nopgo r2r nonconc server notiered aot}"
WORK="$(mktemp -d)"; PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
TICKS="$(getconf CLK_TCK)"

echo "building BenchHost (JIT) and publishing it ReadyToRun..."
dotnet build -c Release -v q --nologo "$HERE/BenchHost/BenchHost.csproj" >/dev/null
dotnet publish -c Release -v q --nologo -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -o "$WORK/r2r" "$HERE/BenchHost/BenchHost.csproj" >/dev/null
if [[ " $VARIANTS " == *" aot "* ]]; then
  dotnet publish -c Release -v q --nologo -r linux-x64 -p:PublishAot=true -o "$WORK/aot" "$HERE/BenchHost/BenchHost.csproj" >/dev/null
fi
JIT="$HERE/BenchHost/bin/Release/net10.0/BenchHost.dll"
R2R="$WORK/r2r/BenchHost.dll"

measure() {  # <label> <dll, or a native executable> [env...]
  local label="$1" dll="$2"; shift 2
  local run=(dotnet "$dll"); [[ "$dll" != *.dll ]] && run=("$dll")
  local port; port="$(free_port)"
  local start; start="$(date +%s.%N)"
  env "$@" timeout "$TIMEOUT" "${run[@]}" serve "$port" "$ROWS" "$TIMEOUT" >"$WORK/$label.log" 2>&1 &
  local tpid=$!; PIDS+=($tpid)
  until redis-cli -p "$port" PING >/dev/null 2>&1; do sleep 0.05; done
  local ready; ready="$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')"
  local pid; pid="$(pgrep -P "$tpid" | head -1)"
  local rss; rss="$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")"
  redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -r "$ROWS" -P 16 -q HGET 'pub.accounts.__rand_int__' email >/dev/null 2>&1   # warm
  local out=""
  for depth in 1 16; do
    local n="$REQUESTS"; [[ "$depth" == 1 ]] && n=$((REQUESTS / 4))
    local before after line
    before="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
    line="$(redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -r "$ROWS" -P "$depth" --csv HGET 'pub.accounts.__rand_int__' email | tail -1)"
    after="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
    out+="$(awk -v line="$line" -v t=$((after - before)) -v hz="$TICKS" -v n="$n" 'BEGIN { gsub(/"/, "", line); split(line, f, ","); printf " %s | %.1f |", f[2], t / hz * 1e6 / n }')"
  done
  local after_rss; after_rss="$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")"
  kill "$tpid" 2>/dev/null || true
  echo "| $label | $ready | $rss | $after_rss |$out"
}

variant() {  # <name>: one runtime configuration
  case "$1" in
    shipped)     measure "as shipped: workstation concurrent GC, ReadyToRun, tiered PGO off" "$R2R" DOTNET_TieredPGO=0 ;;
    jit)         measure "JIT only, tiered PGO on (.NET default)" "$JIT" DOTNET_TieredPGO=1 ;;
    nonconc)     measure "workstation, non-concurrent" "$R2R" DOTNET_TieredPGO=0 DOTNET_gcConcurrent=0 ;;
    server)      measure "server GC (DATAS)" "$R2R" DOTNET_TieredPGO=0 DOTNET_gcServer=1 ;;
    nopgo)       measure "JIT only, tiered PGO off" "$JIT" DOTNET_TieredPGO=0 ;;
    r2r)         measure "ReadyToRun, tiered PGO on" "$R2R" DOTNET_TieredPGO=1 ;;
    notiered)    measure "ReadyToRun, tiered compilation off" "$R2R" DOTNET_TieredCompilation=0 ;;
    aot)         measure "Native AOT" "$WORK/aot/BenchHost" ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
{
  echo "| runtime configuration | start → first PING s | RSS MB loaded | RSS MB after | HGET -P1 req/s | µs CPU/req | HGET -P16 req/s | µs CPU/req |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for round in $(seq "$ROUNDS"); do
    for v in $VARIANTS; do variant "$v"; done
  done
} | tee "$WORK/table.md"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$HERE/results"
REPORT="$HERE/results/runtime-$(date -u +%Y-%m-%d-%H%M).md"
{
  echo "# Runtime settings for the Redis listener (BenchHost), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$ROWS rows; $REQUESTS requests -P16, $((REQUESTS / 4)) -P1, $CLIENTS clients; $ROUNDS round(s) of: $VARIANTS"
  echo "$(nproc) cores; load average before $LOAD_BEFORE, after $LOAD_AFTER"
  echo
  cat "$WORK/table.md"
} > "$REPORT"
echo "report: $REPORT"
