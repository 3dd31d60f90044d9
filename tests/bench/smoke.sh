#!/bin/bash
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
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
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

# objd is still well.
if "$OBJCTL_BIN" --socket "$dir/objd.sock" ping >/dev/null 2>&1; then
	ok "objd still answers"
else
	fail "objd still answers" "$(cat "$dir/objd.log")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
