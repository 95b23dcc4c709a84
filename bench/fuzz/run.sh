#!/usr/bin/env bash
# Coverage-guided fuzzing of pgrelay's parsers: SharpFuzz instruments the assemblies, afl++ drives them.
# One bounded campaign per target (-V seconds), in turn; findings go to $FUZZ_OUT (default bench/fuzz/out, ignored by git).
#
#   bench/fuzz/run.sh [seconds-per-target] [target ...]     targets: resp resp-session memcached http-path
#
# A crash or hang is an input under out/findings/<target>/default/{crashes,hangs}; replay it without afl, on the
# uninstrumented build (instrumented assemblies only run under afl), with
#   dotnet run --project bench/fuzz/Pgrelay.Fuzz -- <target> <file>
# and, once fixed, add it to corpus/<target>/ so CI replays it (tests/Pgrelay.Fuzz.Tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-300}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(resp resp-session memcached http-path)
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 2; }
out=${FUZZ_OUT:-$here/out}

rm -rf "$out/bin"
(cd "$here" && dotnet tool restore >/dev/null)
dotnet publish "$here/Pgrelay.Fuzz/Pgrelay.Fuzz.csproj" -c Release -o "$out/bin" -v quiet -nologo
# Our assemblies only: coverage of the runtime would drown the parsers' own edges.
for dll in Pgrelay.Core Pgrelay.Store Pgrelay.Transport Pgrelay.Resp Pgrelay.Memcached Pgrelay.Http; do
  (cd "$here" && dotnet sharpfuzz "$out/bin/$dll.dll" >/dev/null)
done

# dotnet itself is not instrumented (SharpFuzz reports coverage through afl's shared memory from managed code).
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export DOTNET_TieredPGO=0 DOTNET_gcServer=0
status=0
for target in "${targets[@]}"; do
  echo "== $target: ${seconds}s"
  findings="$out/findings/$target"
  rm -rf "$findings"
  mkdir -p "$out/findings"
  # -t: a .NET process starts slowly and the first inputs JIT; hangs are inputs over 10 s.
  afl-fuzz -i "$here/corpus/$target" -o "$findings" -V "$seconds" -t 10000 -m none -- dotnet "$out/bin/pgrelay-fuzz.dll" "$target" \
    > "$out/$target.log" 2>&1 || { echo "afl-fuzz failed for $target, see $out/$target.log" >&2; tail -5 "$out/$target.log" >&2; status=1; continue; }
  stats="$findings/default/fuzzer_stats"
  crashes=$(find "$findings/default/crashes" -type f -name 'id*' 2>/dev/null | wc -l)
  hangs=$(find "$findings/default/hangs" -type f -name 'id*' 2>/dev/null | wc -l)
  execs=$(awk -F: '/^execs_done/ { gsub(/ /, "", $2); print $2 }' "$stats" 2>/dev/null || echo "?")
  paths=$(awk -F: '/^corpus_count/ { gsub(/ /, "", $2); print $2 }' "$stats" 2>/dev/null || echo "?")
  echo "   executions: $execs, corpus: $paths, crashes: $crashes, hangs: $hangs"
  [ "$crashes" -eq 0 ] && [ "$hangs" -eq 0 ] || status=1
done
exit $status
