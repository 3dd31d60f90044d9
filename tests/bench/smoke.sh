#!/bin/bash
# SPDX-License-Identifier: ISC
# smoke.sh: objd-bench against a real objd in a temporary folder, for
# make check. A few thousand requests: it checks that every test runs,
# exits 0 and prints a rate, and that failures exit non-zero. It times
# nothing.
set -u

: "${OBJD_BIN:?set OBJD_BIN to objd}"
: "${OBJCTL_BIN:?set OBJCTL_BIN to objctl}"
: "${OBJD_BENCH_BIN:?set OBJD_BENCH_BIN to objd-bench}"

passed=0
failed=0
dir=$(mktemp -d "${TMPDIR:-/tmp}/objd-smoke.XXXXXX") || exit 99
pid=""
fake_pids=""
cleanup() {
	for p in $pid $fake_pids; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT

ok() {
	passed=$((passed + 1))
	echo "PASS: $1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	[ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/    /'
}

"$OBJD_BIN" --foreground --file "$dir/objd.pb" --socket "$dir/objd.sock" \
    --fsync never --reload-interval 0 2>"$dir/objd.log" &
pid=$!
for _ in $(seq 100); do
	"$OBJCTL_BIN" --socket "$dir/objd.sock" ping >/dev/null 2>&1 && break
	sleep 0.1
done
if ! "$OBJCTL_BIN" --socket "$dir/objd.sock" ping >/dev/null 2>&1; then
	echo "objd did not start: $(cat "$dir/objd.log")"
	exit 99
fi

bench() {
	"$OBJD_BENCH_BIN" -s "$dir/objd.sock" "$@" 2>&1
}

# Every test, quiet: one line each with a rate.
out=$(bench -c 4 -n 1000 -P 4 -r 100 -t ping,get,set,del,mset,fill -q)
rc=$?
if [ "$rc" -eq 0 ] && [ "$(echo "$out" | grep -c \
    '^[A-Z][A-Za-z (0-9)]*: [0-9][0-9.]* \(requests\|keys\) per second, p50=')" \
    -eq 6 ]; then
	ok "every test prints a rate"
else
	fail "every test prints a rate (exit $rc)" "$out"
fi

# The full report, with one client and a deeper pipeline than requests.
out=$(bench -c 1 -n 1000 -P 32 -r 1000 -d 100 -t set,get)
rc=$?
if [ "$rc" -eq 0 ] && echo "$out" | grep -q '1000 requests completed' &&
    echo "$out" | grep -q 'throughput: [0-9.]* requests per second' &&
    echo "$out" | grep -q '^objd .* keys, fsync never$'; then
	ok "the full report"
else
	fail "the full report (exit $rc)" "$out"
fi

# CSV: a header and one row per test, with a positive rate.
out=$(bench -c 2 -n 1000 -r 10 -t get,set --csv)
rc=$?
if [ "$rc" -eq 0 ] && [ "$(echo "$out" | sed -n 1p)" = \
    '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p99_latency_ms","p999_latency_ms","max_latency_ms"' ] &&
    echo "$out" | awk -F'"' 'NR > 1 && $4 > 0 { n++ } END { exit n != 2 }'
then
	ok "--csv"
else
	fail "--csv (exit $rc)" "$out"
fi

# What the tests leave: the fill writes the keys objd-bench uses, and the
# sets change them.
bench -r 100 -d 5 -t fill -q >/dev/null
v=$("$OBJCTL_BIN" --socket "$dir/objd.sock" get key:000000000099)
if [ "$v" = xxxxx ]; then
	ok "the fill writes key:000000000099"
else
	fail "the fill writes key:000000000099" "got '$v'"
fi
bench -c 1 -n 200 -r 1 -d 5 -t set -q >/dev/null
v=$("$OBJCTL_BIN" --socket "$dir/objd.sock" get key:000000000000)
if echo "$v" | grep -q '^x*[0-9a-f]\{1,5\}$' && [ "$v" != xxxxx ]; then
	ok "set changes the value"
else
	fail "set changes the value" "got '$v'"
fi

# A batch sets its -k keys in one change; values larger than a read
# come in several.
out=$(bench -c 2 -n 20 -k 50 -r 50 -d 5 -t batch -q)
rc=$?
v=$("$OBJCTL_BIN" --socket "$dir/objd.sock" get key:000000000049)
if [ "$rc" -eq 0 ] && echo "$out" | grep -q '^BATCH: [0-9.]* requests per' &&
    echo "$v" | grep -q '^[0-9a-f]\{5\}$'; then
	ok "batch sets its keys"
else
	fail "batch sets its keys (exit $rc)" "$out, got '$v'"
fi
out=$(bench -c 2 -n 20 -r 3 -d 300000 -t set,get -q)
rc=$?
if [ "$rc" -eq 0 ] && [ "$(echo "$out" | grep -c ' per second')" -eq 2 ]; then
	ok "300 KB values"
else
	fail "300 KB values (exit $rc)" "$out"
fi

# Failures: no objd, and a bad option.
out=$("$OBJD_BENCH_BIN" -s "$dir/none.sock" -n 10 -q 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && echo "$out" | grep -q 'cannot connect\|none.sock'; then
	ok "no objd: exit $rc"
else
	fail "no objd (exit $rc)" "$out"
fi
out=$(bench -t nosuchtest 2>&1)
rc=$?
if [ "$rc" -eq 2 ] && echo "$out" | grep -q "unknown test"; then
	ok "unknown test: exit 2"
else
	fail "unknown test (exit $rc)" "$out"
fi

# --redis, against tests/bench/fake-redis.py: a RESP server in a few
# lines of Python, so that no redis needs to be installed.
fake_start() { # SOCKET [--fail-set]
	python3 "$(dirname "$0")/fake-redis.py" "$@" 2>>"$dir/fake.log" &
	fake_pids="$fake_pids $!"
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
if ! command -v python3 >/dev/null; then
	echo "SKIP: --redis (no python3 for tests/bench/fake-redis.py)"
elif ! fake_start "$dir/redis.sock" ||
    ! fake_start "$dir/redis-fail.sock" --fail-set; then
	fail "fake-redis.py did not start" "$(cat "$dir/fake.log")"
else
	redis_bench() {
		"$OBJD_BENCH_BIN" --redis "$@" 2>&1
	}
	out=$(redis_bench -s "$dir/redis.sock" -c 4 -n 1000 -P 4 -r 100 \
	    -t ping,get,set,del,mset,fill -q)
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$(echo "$out" | grep -c \
	    ' per second, p50=')" -eq 6 ]; then
		ok "--redis: every test prints a rate"
	else
		fail "--redis: every test prints a rate (exit $rc)" "$out"
	fi
	# Values larger than a read, which come in two writes.
	out=$(redis_bench -s "$dir/redis.sock" -c 2 -n 20 -r 3 -d 100000 \
	    -t set,get -q)
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$(echo "$out" | grep -c ' per second')" \
	    -eq 2 ]; then
		ok "--redis: 100 KB values"
	else
		fail "--redis: 100 KB values (exit $rc)" "$out"
	fi
	out=$(redis_bench -s "$dir/redis.sock" -c 2 -n 20 -k 50 -r 50 \
	    -t batch -q)
	rc=$?
	if [ "$rc" -eq 0 ] && echo "$out" | grep -q '^BATCH: .* per second'
	then
		ok "--redis: batch as MSET"
	else
		fail "--redis: batch as MSET (exit $rc)" "$out"
	fi
	out=$(redis_bench -s "$dir/redis-fail.sock" -n 10 -t set -q)
	rc=$?
	if [ "$rc" -eq 1 ] && echo "$out" | grep -q 'redis answered -ERR fake'
	then
		ok "--redis: an error reply fails the run"
	else
		fail "--redis: an error reply fails the run (exit $rc)" "$out"
	fi
	out=$(redis_bench -s "$dir/redis-fail.sock" -n 10 -r 1000 \
	    --no-fill -t get -q)
	rc=$?
	if [ "$rc" -eq 1 ] && echo "$out" | grep -q 'no such key'; then
		ok "--redis: a missing key fails the run"
	else
		fail "--redis: a missing key fails the run (exit $rc)" "$out"
	fi
	out=$(redis_bench -n 10 -q)
	rc=$?
	if [ "$rc" -eq 2 ] && echo "$out" | grep -q 'needs -s'; then
		ok "--redis without -s: exit 2"
	else
		fail "--redis without -s (exit $rc)" "$out"
	fi
fi

# objd is still well.
if "$OBJCTL_BIN" --socket "$dir/objd.sock" ping >/dev/null 2>&1; then
	ok "objd still answers"
else
	fail "objd still answers" "$(cat "$dir/objd.log")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
