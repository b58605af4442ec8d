#!/bin/sh
# Build each libFuzzer target with clang and run it for a bounded time on its corpus.
# Usage: tests/fuzz/run-fuzz.sh BUILD_DIR SECONDS NAME...
set -eu
build=$1
seconds=$2
shift 2
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=c17 -D_GNU_SOURCE -Isrc"
libs="$(pkg-config --libs libmicrohttpd sqlite3 jansson libcrypto libcurl libsystemd) -lpthread"
for name in "$@"; do
	mkdir -p "$build/fuzz" "$build/fuzz/corpus-$name"
	# shellcheck disable=SC2086
	clang $flags $(pkg-config --cflags jansson) -o "$build/fuzz/$name" "tests/fuzz/$name.c" \
		"$build/liboutpost.a" $libs
	"$build/fuzz/$name" -max_total_time="$seconds" -max_len=65536 \
		"$build/fuzz/corpus-$name" "tests/fuzz/corpus/$name"
done
