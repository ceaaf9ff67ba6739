#!/usr/bin/env bash
# The README's test command: provisions native pieces (idempotent), builds the solution,
# runs every test project against real redis-server / Python grpcio processes, and prints
# one closing line "tests: N passed, N failed, N skipped".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

bash eng/provision.sh
export SYNTHVLM_SKIP_PROVISION=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

results="$repo/.synthvlm/test-results"
rm -rf "$results"
mkdir -p "$results"

dotnet build SynthVlm.sln -c Debug -nologo -v:q -clp:ErrorsOnly
status=0
# -m:1 runs test assemblies one after another: on 2 cores, suites that start real
# processes (redis-server, services, grpcio) stay far from their timeouts that way.
dotnet test SynthVlm.sln -c Debug --no-build -nologo -m:1 \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@" || status=$?

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  nx=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${nx:-0}))
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
