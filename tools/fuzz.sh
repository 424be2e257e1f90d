#!/usr/bin/env bash
# fuzz.sh runs the Fuzz targets of the module for FUZZTIME each (a go test -fuzztime value such as 30s or 10000x;
# 30s by default). It lists the targets of each package with go test -list, keeps those whose name matches
# PATTERN (an extended regular expression; every target by default), runs FUZZ_JOBS of them at a time (2 by
# default, each with FUZZ_JOBS-many fewer workers so the machine is not oversubscribed), stops starting targets
# after the first failure, and prints one line per target: its name, its package, its time and the executions
# go reported.
#
# go test minimizes each input that adds coverage for up to -fuzzminimizetime (60s by default), and those
# runs are not in its execution count: with a 30 s budget one large new input could take all of it. fuzz.sh
# bounds minimization to FUZZ_MINIMIZETIME (5s by default); the inputs are kept, only less shrunk.
#
# A failing input is written by go test under the package's testdata/fuzz/<target>, where it stays as a
# regression case. go test can also fail a target with a bare "context deadline exceeded" when -fuzztime runs
# out while a worker is still busy (a race in the fuzzing coordinator, go.dev/issue/75804). Such a failure
# writes no input; fuzz.sh then replays the target's seeds and saved inputs, and counts the target as passed
# only when that replay passes and no input was written.
#
#   bash tools/fuzz.sh [FUZZTIME] [PATTERN]
set -euo pipefail

cd "$(dirname "$0")/.."

# --one PKG NAME fuzzes one target for $FUZZ_TIME with $FUZZ_WORKERS workers; its exit status is 255 on
# failure, which makes xargs start no more.
if [ "${1:-}" = "--one" ]; then
	pkg="$2" name="$3" fuzztime="$FUZZ_TIME" workers="$FUZZ_WORKERS"
	dir="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name"
	log="$(mktemp)"
	trap 'rm -f "$log"' EXIT
	before="$(ls "$dir" 2>/dev/null | sort || true)"
	t0="$(date +%s)"
	status=ok
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "${FUZZ_MINIMIZETIME:-5s}" \
		-parallel "$workers" "$pkg" >"$log" 2>&1; then
		after="$(ls "$dir" 2>/dev/null | sort || true)"
		if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" &&
			go test -count=1 -run "^${name}\$" "$pkg" >>"$log" 2>&1; then
			status="ok (deadline race, go.dev/issue/75804; replay passed)"
		else
			cat "$log"
			printf 'FAIL %-40s %s\n' "$name" "$pkg"
			exit 255
		fi
	fi
	# The last progress line reads "fuzz: elapsed: 30s, execs: 123456 (4115/sec), ...".
	execs="$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)"
	printf 'ok   %-40s %-60s %4ss  execs=%s%s\n' "$name" "$pkg" "$(($(date +%s) - t0))" "${execs:-?}" \
		"$([ "$status" = ok ] || printf '  %s' "$status")"
	exit 0
fi

fuzztime="${1:-30s}"
pattern="${2:-.}"
jobs="${FUZZ_JOBS:-2}"
cpus="$(nproc 2>/dev/null || echo 2)"
workers=$((cpus / jobs))
[ "$workers" -ge 1 ] || workers=1

list="$(mktemp)"
trap 'rm -f "$list"' EXIT
for pkg in $(go list ./...); do
	for name in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		if printf '%s\n' "$name" | grep -Eq -- "$pattern"; then
			printf '%s %s\n' "$pkg" "$name" >>"$list"
		fi
	done
done
count="$(wc -l <"$list")"
if [ "$count" -eq 0 ]; then
	echo "fuzz: no target matches $pattern" >&2
	exit 1
fi

start="$(date +%s)"
if ! FUZZ_TIME="$fuzztime" FUZZ_WORKERS="$workers" xargs -P "$jobs" -L 1 bash "$0" --one <"$list"; then
	echo "fuzz: a target failed; its failing input, if go wrote one, is under the package's testdata/fuzz" >&2
	exit 1
fi
printf 'fuzz: %d targets passed in %ss (fuzztime %s each, %d at a time)\n' "$count" "$(($(date +%s) - start))" \
	"$fuzztime" "$jobs"
