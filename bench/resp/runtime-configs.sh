#!/usr/bin/env bash
# How the .NET runtime's settings change pgrelay's Redis listener: GC flavour (workstation concurrent, as shipped;
# workstation non-concurrent; server GC, which in .NET 10 adapts its heap count to the load, "DATAS"), tiered PGO
# off, ReadyToRun, and Native AOT (of BenchHost, i.e. the listener, store and protocol; the full executable's
# Npgsql/ASP.NET side is not part of this measurement). For each: time from start to the first answered PING with ROWS rows loaded, RSS then, and
# HGET throughput and server CPU per request unpipelined and pipelined (redis-benchmark, fixed request counts).
# CPU per request is the figure to trust on a busy machine; throughput needs a quiet one.
#
#   bench/resp/runtime-configs.sh        Knobs: ROWS=100000 REQUESTS=200000 CLIENTS=50 TIMEOUT=600
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROWS="${ROWS:-100000}"; REQUESTS="${REQUESTS:-200000}"; CLIENTS="${CLIENTS:-50}"; TIMEOUT="${TIMEOUT:-600}"
WORK="$(mktemp -d)"; PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
TICKS="$(getconf CLK_TCK)"

echo "building BenchHost (JIT) and publishing it ReadyToRun..."
dotnet build -c Release -v q --nologo "$HERE/BenchHost/BenchHost.csproj" >/dev/null
dotnet publish -c Release -v q --nologo -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -o "$WORK/r2r" "$HERE/BenchHost/BenchHost.csproj" >/dev/null
dotnet publish -c Release -v q --nologo -r linux-x64 -p:PublishAot=true -o "$WORK/aot" "$HERE/BenchHost/BenchHost.csproj" >/dev/null
JIT="$HERE/BenchHost/bin/Release/net10.0/BenchHost.dll"

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

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
{
  echo "| runtime configuration | start → first PING s | RSS MB loaded | RSS MB after | HGET -P1 req/s | µs CPU/req | HGET -P16 req/s | µs CPU/req |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  measure "workstation, concurrent (shipped)" "$JIT"
  measure "workstation, non-concurrent" "$JIT" DOTNET_gcConcurrent=0
  measure "server GC (DATAS)" "$JIT" DOTNET_gcServer=1
  measure "tiered PGO off" "$JIT" DOTNET_TieredPGO=0
  measure "ReadyToRun" "$WORK/r2r/BenchHost.dll"
  measure "ReadyToRun, tiered compilation off" "$WORK/r2r/BenchHost.dll" DOTNET_TieredCompilation=0
  measure "Native AOT" "$WORK/aot/BenchHost"
} | tee "$WORK/table.md"
echo
echo "$ROWS rows; $(nproc) cores; load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"
