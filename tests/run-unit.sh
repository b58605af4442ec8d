#!/bin/sh
# Run each cmocka unit-test binary given as an argument and sum up the results.
# Exits non-zero when any binary fails; prints one "N passed, N failed" line.
set -u
passed=0
failed=0
for binary in "$@"; do
	if "$binary"; then
		passed=$((passed + 1))
	else
		echo "FAILED: $binary" >&2
		failed=$((failed + 1))
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
