#!/bin/bash
# Run every integration test; each starts its own daemon on loopback.
set -u
cd "$(dirname "$0")"
passed=0
failed=0
for test in test_*.sh; do
	if bash "$test"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $test" >&2
	fi
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
