#!/bin/sh
# Replay every fuzz corpus file through its target, built without libFuzzer.
# Usage: tests/run-replay.sh BUILD_DIR NAME...
set -u
build=$1
shift
passed=0
failed=0
for name in "$@"; do
	corpus="tests/fuzz/corpus/$name"
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		echo "FAILED: $name has no corpus in $corpus" >&2
		failed=$((failed + 1))
		continue
	fi
	if "$build/tests/replay_$name" "$corpus"/*; then
		passed=$((passed + 1))
	else
		echo "FAILED: replay of $name" >&2
		failed=$((failed + 1))
	fi
done
echo "fuzz-replay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
