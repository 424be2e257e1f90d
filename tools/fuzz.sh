#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target of the module, one after the other, each for FUZZTIME (a go test -fuzztime
# value such as 30s or 10000x; 30s by default). It lists the targets of each package with go test -list,
# stops at the first target that fails (go test then writes the crasher under the package's testdata/fuzz),
# and prints one summary line per target: its name, its package, its time and the executions go reported.
set -euo pipefail

fuzztime="${1:-30s}"
cd "$(dirname "$0")/.."

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

count=0
start="$(date +%s)"
for pkg in $(go list ./...); do
	targets="$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)"
	for name in $targets; do
		count=$((count + 1))
		t0="$(date +%s)"
		if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
			cat "$log"
			printf 'FAIL %-40s %s\n' "$name" "$pkg"
			exit 1
		fi
		# The last progress line reads "fuzz: elapsed: 30s, execs: 123456 (4115/sec), ...".
		execs="$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)"
		printf 'ok   %-40s %-60s %4ss  execs=%s\n' "$name" "$pkg" "$(($(date +%s) - t0))" "${execs:-?}"
	done
done
printf 'fuzz: %d targets passed in %ss (fuzztime %s each)\n' "$count" "$(($(date +%s) - start))" "$fuzztime"
