#!/bin/sh
# Run each libFuzzer target (built by `make fuzz`) for a bounded time. New inputs go
# to BUILD_DIR/fuzz/corpus-NAME; the seed corpus in tests/fuzz/corpus is only read.
# Usage: tests/fuzz/run-fuzz.sh BUILD_DIR SECONDS NAME...
set -eu
build=$1
seconds=$2
shift 2
for name in "$@"; do
	mkdir -p "$build/fuzz/corpus-$name"
	"$build/fuzz/$name" -max_total_time="$seconds" -max_len=65536 \
		"$build/fuzz/corpus-$name" "tests/fuzz/corpus/$name"
done
echo "fuzz: every target ran $seconds seconds with no crash"
