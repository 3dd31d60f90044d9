#!/bin/bash
# SPDX-License-Identifier: ISC
# load.sh: loading LOAD_KEYS keys at once into objd and into redis-server,
# the last rows of `make bench` (alone: `make bench-load`).
#
# The keys and values are those of objd-bench -t fill and redis_fill
# (key:000000000000 .., LOAD_DATASIZE bytes of x each), written once as a
# JSON document for `objctl load` and once as RESP SET commands for
# `redis-cli --pipe`. Each run starts both servers empty (objd --fsync
# never, redis --save '' --appendonly no, as the plain rows of bench.sh)
# and times, from exec to exit, one objctl load and one redis-cli --pipe,
# with the peak RSS of each client (GNU time, when there is one) and the
# server's CPU time. Then objd's RSS a second after the load, against its
# RSS after a restart on the file the load wrote; and redis's RSS after
# the pipe. Every figure is the median of LOAD_RUNS runs.
# Environment: as bench.sh (OBJD_BIN, OBJCTL_BIN, OBJD_BENCH_BIN,
# BENCH_PIN, BENCH_TMPDIR), LOAD_KEYS (1000000), LOAD_DATASIZE (3),
# LOAD_RUNS (3).
# The lists of figures are split into words on purpose.
# shellcheck disable=SC2086
set -eu
. "$(dirname "$0")/lib.sh"

keys=${LOAD_KEYS:-1000000}
datasize=${LOAD_DATASIZE:-3}
runs=${LOAD_RUNS:-3}

bench_find_programs
bench_need_redis
bench_pin
bench_make_tmp
t=$bench_tmp

awk -v n="$keys" -v d="$datasize" 'BEGIN {
	v = sprintf("%*s", d, ""); gsub(/ /, "x", v)
	printf "{"
	for (i = 0; i < n; i++)
		printf "%s\"key:%012d\": \"%s\"", (i ? ",\n" : "\n"), i, v
	printf "\n}\n"
}' >"$t/doc.json"
awk -v n="$keys" -v d="$datasize" 'BEGIN {
	v = sprintf("%*s", d, ""); gsub(/ /, "x", v)
	for (i = 0; i < n; i++) {
		k = sprintf("key:%012d", i)
		printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
		    length(k), k, d, v
	}
}' >"$t/redis.txt"

gnu_time=""
if /usr/bin/time -f %M true >/dev/null 2>&1; then
	gnu_time=/usr/bin/time
fi

# timed OUT COMMAND...: runs a client pinned like bench.sh's, its input
# from the file in $input; sets secs to its wall time and peak_kb to its
# peak RSS (or n/a).
timed() {
	local out=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	if [ -n "$gnu_time" ]; then
		"${client_pin[@]}" "$gnu_time" -f %M -o "$t/peak" "$@" \
		    <"$input" >"$out" 2>&1 || bench_die "failed: $*: $(cat "$out")"
		peak_kb=$(tail -n 1 "$t/peak")
	else
		"${client_pin[@]}" "$@" <"$input" >"$out" 2>&1 ||
		    bench_die "failed: $*: $(cat "$out")"
		peak_kb=n/a
	fi
	t1=$EPOCHREALTIME
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

ms_of_cpu() { # ns before, ns after -> ms
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'
}

o_secs="" r_secs="" o_peak="" r_peak="" o_cpu="" r_cpu=""
o_rss="" o_rss_restart="" r_rss=""
for i in $(seq "$runs"); do
	bench_note "run $i of $runs: $keys keys"
	rm -rf "$t/objd" "$t/redis"
	start_objd "$t/o.sock" "$t/objd/objd.pb" never
	pid=$started_pid
	c0=$(cpu_ns "$pid")
	input=$t/doc.json
	timed "$t/out" "$OBJCTL_BIN" --socket "$t/o.sock" --timeout 0 load -
	c1=$(cpu_ns "$pid")
	o_secs="$o_secs $secs" o_peak="$o_peak $peak_kb"
	o_cpu="$o_cpu $(ms_of_cpu "$c0" "$c1")"
	n=$("$OBJCTL_BIN" --socket "$t/o.sock" status |
	    awk '$1 == "keys:" { print $2 }')
	[ "$n" = "$keys" ] || bench_die "objd holds $n keys, not $keys"
	# What the load leaves, once its memory was given back.
	sleep 1
	o_rss="$o_rss $(rss_kb "$pid")"
	bench_stop "$pid"
	start_objd "$t/o.sock" "$t/objd/objd.pb" never
	pid=$started_pid
	sleep 1
	o_rss_restart="$o_rss_restart $(rss_kb "$pid")"
	bench_stop "$pid"

	start_redis "$t/r.sock" "$t/redis" --save '' --appendonly no
	pid=$started_pid
	c0=$(cpu_ns "$pid")
	input=$t/redis.txt
	timed "$t/out" redis-cli -s "$t/r.sock" --pipe
	c1=$(cpu_ns "$pid")
	r_secs="$r_secs $secs" r_peak="$r_peak $peak_kb"
	r_cpu="$r_cpu $(ms_of_cpu "$c0" "$c1")"
	n=$(redis-cli -s "$t/r.sock" dbsize)
	[ "$n" = "$keys" ] || bench_die "redis holds $n keys, not $keys"
	sleep 1
	r_rss="$r_rss $(rss_kb "$pid")"
	redis-cli -s "$t/r.sock" shutdown nosave >/dev/null 2>&1 || true
	bench_stop "$pid"
done

med() { printf '%s\n' "$@" | median; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
os=$(med $o_secs) rs=$(med $r_secs)
orss=$(med $o_rss) orss2=$(med $o_rss_restart) rrss=$(med $r_rss)
if [ -n "$gnu_time" ]; then
	opeak="$(mb "$(med $o_peak)") MB" rpeak="$(mb "$(med $r_peak)") MB"
else
	opeak=n/a rpeak=n/a
fi

echo
echo "Loading $keys keys at once (key:%012d, $datasize-byte values):" \
    "tests/bench/load.sh, medians of $runs runs"
printf '%-50s %14s %14s %10s\n' "row" "objd" "redis" "objd/redis"
printf '%-50s %12s s %12s s %9.2fx\n' \
    "load: objctl load of JSON, redis-cli --pipe" "$os" "$rs" \
    "$(awk -v o="$os" -v r="$rs" 'BEGIN { print r / o }')"
printf '%-50s %14s %14s\n' "  client peak RSS" "$opeak" "$rpeak"
printf '%-50s %11s ms %11s ms\n' "  server CPU during the load" \
    "$(med $o_cpu)" "$(med $r_cpu)"
printf '%-50s %14s %14s %10s\n' "memory" "after the load" "after restart" \
    "load/restart"
printf '%-50s %11s MB %11s MB %9.2fx\n' "  objd RSS (restart: on the file of the load)" \
    "$(mb "$orss")" "$(mb "$orss2")" \
    "$(awk -v a="$orss" -v b="$orss2" 'BEGIN { print a / b }')"
printf '%-50s %11s MB\n' "  redis RSS" "$(mb "$rrss")"
echo "load objd/redis above 1.00x: objd is faster (redis's time over"
echo "objd's, each from exec to exit)."
echo "runs: objctl (s)$o_secs; redis-cli (s)$r_secs"
echo "      objd RSS kB after load$o_rss; after restart$o_rss_restart"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
