#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# run.sh: builds objd's libFuzzer harnesses and runs each for a while.
#
#     tests/fuzz/run.sh [build | run | seeds]      (make fuzz runs "run")
#
# The harnesses (tests/fuzz/fuzz_*.c) are linked with objd's server and
# common code built again by clang with -fsanitize=fuzzer-no-link,address,
# undefined, in $FUZZ_OUT (default fuzz-build in the build folder), so the
# regular build stays as configure made it. "run" runs each harness for
# FUZZ_SECONDS (default 60) on a working corpus in $FUZZ_OUT/corpus that
# starts from the seeds in tests/fuzz/corpus (new inputs never go there),
# prints the executions and exits non-zero on a crash, whose input is kept
# as $FUZZ_OUT/crash-*. "seeds" writes the generated seeds anew
# (tests/fuzz/make-corpus.c).
#
# Environment (make fuzz sets the first five): FUZZ_SRCDIR, FUZZ_BUILDDIR
# (where config.h and proto/objd.pb-c.c are), FUZZ_OUT, FUZZ_DEPS_CFLAGS,
# FUZZ_DEPS_LIBS; FUZZ_CC (default clang), FUZZ_SECONDS, FUZZ_JOBS
# (parallel compiles, default 2), FUZZ_ARGS (more libFuzzer options).
set -euo pipefail

mode=${1:-run}
here=$(cd "$(dirname "$0")" && pwd)
src=${FUZZ_SRCDIR:-$(cd "$here/../.." && pwd)}
build=${FUZZ_BUILDDIR:-$src}
out=${FUZZ_OUT:-$build/fuzz-build}
cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
harnesses="conn objfile"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"

if [ -z "${FUZZ_DEPS_CFLAGS+set}" ]; then
	FUZZ_DEPS_CFLAGS=$(pkg-config --cflags libprotobuf-c libevent jansson libdeflate libxxhash libcurl)
	FUZZ_DEPS_LIBS=$(pkg-config --libs libprotobuf-c libevent jansson libdeflate libxxhash libcurl)
fi
if [ ! -f "$build/config.h" ] || [ ! -f "$build/proto/objd.pb-c.c" ]; then
	echo "run.sh: no config.h or proto/objd.pb-c.c in $build:" \
	    "configure and make first (make fuzz does)" >&2
	exit 1
fi

# libFuzzer comes with clang; without it there is nothing to run.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
    '{ return (int)(d == NULL && n > 0); }' >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" \
    -o "$probe/p" >/dev/null 2>&1; then
	echo "run.sh: '$cc' cannot build libFuzzer harnesses" \
	    "(-fsanitize=fuzzer): install clang (Debian: apt-get install" \
	    "clang) or set FUZZ_CC" >&2
	exit 1
fi

# The folders configure passes objd's code (options.c names its config
# file with one); the harnesses read no config file.
cflags="-std=c11 -g -O1 -fno-omit-frame-pointer $san -include $build/config.h
    -DOBJD_BINDIR=\"/usr/bin\" -DOBJD_SYSCONFDIR=\"/etc\"
    -I$build -I$build/proto -I$src/common -I$src/server $FUZZ_DEPS_CFLAGS"

# Everything objd runs but its main(): the server modules, the common
# ones and the generated protobuf code (etcd's too: the etcd backend is
# one of the server's modules).
build_objects() {
	local kind=$1 flags=$2 dir=$out/obj-$1 f sources=()
	mkdir -p "$dir"
	objects=()
	for f in "$src"/server/*.c "$src"/common/*.c "$build/proto/objd.pb-c.c" \
	    "$build"/proto/etcd/*.pb-c.c; do
		case $f in */server/main.c) continue ;; esac
		sources+=("$f")
		objects+=("$dir/$(basename "$(dirname "$f")")-$(basename "$f" .c).o")
	done
	printf '%s\n' "${sources[@]}" |
	    FLAGS="$cflags $flags" DIR=$dir CC=$cc xargs -P "$jobs" -I{} \
	    sh -c 'f={}; o="$DIR/$(basename "$(dirname "$f")")-$(basename "$f" .c).o"
		exec $CC $FLAGS -c "$f" -o "$o"'
	echo "built objd's code for $kind in $dir"
}

build_harnesses() {
	local h
	build_objects fuzz -fsanitize=fuzzer-no-link
	for h in $harnesses; do
		# shellcheck disable=SC2086
		$cc $cflags -fsanitize=fuzzer "$src/tests/fuzz/fuzz_$h.c" \
		    "${objects[@]}" $FUZZ_DEPS_LIBS -o "$out/fuzz_$h"
		echo "built $out/fuzz_$h"
	done
}

case $mode in
build)
	build_harnesses
	;;
seeds)
	build_objects plain ""
	# shellcheck disable=SC2086
	$cc $cflags "$src/tests/fuzz/make-corpus.c" "${objects[@]}" \
	    $FUZZ_DEPS_LIBS -o "$out/make-corpus"
	# Rewrites the generated seeds; inputs added by hand (regress-*,
	# crashes once found) stay.
	for h in $harnesses; do
		mkdir -p "$src/tests/fuzz/corpus/$h"
	done
	"$out/make-corpus" "$src/tests/fuzz/corpus/conn" \
	    "$src/tests/fuzz/corpus/objfile"
	ls -l "$src"/tests/fuzz/corpus/*
	;;
run)
	build_harnesses
	failed=0
	for h in $harnesses; do
		mkdir -p "$out/corpus/$h"
		log=$out/fuzz_$h.log
		# fuzz_conn keeps objd's state from input to input, as objd
		# does from client to client: LeakSanitizer looks at exit,
		# not after each input that leaves memory held.
		opts=
		[ "$h" = conn ] && opts=-detect_leaks=0
		echo "fuzzing $h for $seconds s (log: $log)"
		# shellcheck disable=SC2086
		# A small quarantine keeps the fuzzer's memory small, which
		# makes the fork of each compaction fast.
		if ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:quarantine_size_mb=16:malloc_context_size=10 \
		    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		    "$out/fuzz_$h" -max_total_time="$seconds" -timeout=30 \
		    -rss_limit_mb=2048 -print_final_stats=1 \
		    -artifact_prefix="$out/crash-$h-" $opts ${FUZZ_ARGS:-} \
		    "$out/corpus/$h" "$src/tests/fuzz/corpus/$h" >"$log" 2>&1; then
			echo "fuzz_$h: $(grep -m1 -o 'number_of_executed_units: [0-9]*' "$log" |
			    cut -d' ' -f2) executions, no crash," \
			    "$(ls "$out/corpus/$h" | wc -l) inputs in the corpus"
		else
			failed=1
			echo "fuzz_$h FAILED; the end of its log:"
			tail -n 60 "$log"
		fi
	done
	exit $failed
	;;
*)
	echo "usage: run.sh [build | run | seeds]" >&2
	exit 2
	;;
esac
