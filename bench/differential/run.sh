#!/usr/bin/env bash
# A long campaign of the randomized differential test (tests/Pgrelay.Differential.Tests): fresh seeds, every switch on
# (or $SWITCHES), more transactions per run, PostgreSQL versions in turn. Bounded: stops after $RUNS runs or $MINUTES
# minutes, whichever comes first. Each failing run leaves a full report in /tmp/pgrelay-diff-<seed>-*.txt; this prints
# one line per run and a summary.
#
#   bench/differential/run.sh                              # 20 runs, 60 minutes, 2000 transactions, all switches
#   RUNS=5 TRANSACTIONS=500 SWITCHES=default,+Kill9 VERSIONS="15 17" bench/differential/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-20}
MINUTES=${MINUTES:-60}
TRANSACTIONS=${TRANSACTIONS:-2000}
SWITCHES=${SWITCHES:-all}
VERSIONS=${VERSIONS:-"14 15 16 17 18"}
FIRST_SEED=${FIRST_SEED:-$(( $(date +%s) % 100000 ))}

dotnet build tests/Pgrelay.Differential.Tests/Pgrelay.Differential.Tests.csproj -v q --nologo >/dev/null
read -r -a versions <<< "$VERSIONS"
deadline=$(( $(date +%s) + MINUTES * 60 ))
out=$(mktemp -d)
failed=0
for (( i = 0; i < RUNS; i++ )); do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "time budget of $MINUTES minutes used"; break; }
  seed=$(( FIRST_SEED + i ))
  version=${versions[$(( i % ${#versions[@]} ))]}
  log="$out/run-$seed.txt"
  # The test's hang guards bound each run; timeout is the last resort.
  if PGRELAY_DIFF_SEED=$seed PGRELAY_DIFF_SWITCHES=$SWITCHES PGRELAY_DIFF_TRANSACTIONS=$TRANSACTIONS PGRELAY_DIFF_POSTGRES=$version \
     timeout 1800 dotnet test tests/Pgrelay.Differential.Tests --no-build --filter "DisplayName~seed: 1" \
       --logger "console;verbosity=detailed" > "$log" 2>&1; then
    echo "seed $seed on PostgreSQL $version: exact"
  else
    failed=$(( failed + 1 ))
    summary=$(grep -E '^\s*(RESP|HTTP|HTTP listing|postgres sink|file sink): [0-9]+ divergences' "$log" | sort -u | tr -s ' ' | paste -sd ';' -)
    report=$(grep -o 'full report: .*' "$log" | head -1 | cut -d' ' -f3)
    echo "seed $seed on PostgreSQL $version: DIVERGED ${summary:-(no summary: see $log)} ${report}"
  fi
done
echo "runs: $i, diverged: $failed (switches $SWITCHES, $TRANSACTIONS transactions each); logs in $out"
