#!/bin/bash
# SPDX-License-Identifier: ISC
# bench.sh: objd against redis-server, side by side: `make bench`.
#
# Starts two objd and three redis-server on UNIX sockets in a temporary
# folder, and compares like with like: objd --fsync never against redis
# without persistence for the plain rows, objd --fsync always against
# redis with appendfsync always for the durable rows (and objd --fsync
# never against redis appendfsync no in one pingpong row). objd-bench and
# redis-benchmark run with the same parameters one after the other;
# each row is the median of BENCH_RUNS runs of each. Then the wall time
# of one `objctl get name` against one `redis-cli get name`, the median
# of BENCH_CALLS calls. Everything started here is stopped, and the
# folder removed, however the script ends.
#
# Every row is also run with objd-bench against redis (--redis), so that
# the two servers are compared with one client program as well as with
# their own: with one client the client's way of waiting moves the rate
# as much as the server does, and with 50, redis-benchmark spends its
# whole CPU. The 1-client rows are run once more with pingpong.c, a
# client that blocks in read, for both servers.
#
# Environment: OBJD_BIN, OBJCTL_BIN, OBJD_BENCH_BIN, PINGPONG_BIN (the
# programs; without pingpong, its rows are left out),
# BENCH_RUNS (3), BENCH_CALLS (50), BENCH_SCALE (1: multiplies every
# request count), BENCH_KEYSPACE (100000), BENCH_DATASIZE (3),
# BENCH_TMPDIR (${TMPDIR:-/tmp}; it must not be tmpfs), BENCH_LARGE (1;
# 0 leaves out the rows of batches and large values), BENCH_ONLY (a
# grep -E pattern: only the rows whose label it matches, and then none
# of the pingpong rows nor the timed calls; BENCH_ONLY='KiB|MiB' runs
# the two rows of large values).
#
# Then the rows beyond small keys: atomic changes of 100 and 1,000 keys
# (objd's Batch against redis's MSET) and sets of values of 64 KiB and
# 1 MiB to one key, rewritten again and again. objd-bench drives both
# servers, and both persist alike: objd --fsync never against redis
# --appendonly yes --appendfsync no, two servers of their own, empty at
# the start.
# The lists of figures are split into words on purpose.
# shellcheck disable=SC2086
set -eu
. "$(dirname "$0")/lib.sh"

runs=${BENCH_RUNS:-3}
calls=${BENCH_CALLS:-50}
scale=${BENCH_SCALE:-1}
keyspace=${BENCH_KEYSPACE:-100000}
datasize=${BENCH_DATASIZE:-3}

# label | test | clients | pipeline | requests | durable
rows="get 1 client|get|1|1|50000|0
set 1 client|set|1|1|50000|0
get 50 clients|get|50|1|200000|0
set 50 clients|set|50|1|200000|0
get 50 clients -P 16|get|50|16|1000000|0
set 50 clients -P 16|set|50|16|1000000|0
durable set 1 client|set|1|1|10000|1
durable set 50 clients|set|50|1|100000|1"
# label | test | clients | requests | options
large_rows="batch 100 keys, 1 client|batch|1|5000|-k 100 -d 3 -r 100000
batch 100 keys, 10 clients|batch|10|10000|-k 100 -d 3 -r 100000
batch 1000 keys, 1 client|batch|1|500|-k 1000 -d 3 -r 100000
batch 1000 keys, 10 clients|batch|10|1000|-k 1000 -d 3 -r 100000
set 64 KiB, 1 client|set|1|3000|-d 65536 -r 1
set 1 MiB, 1 client|set|1|300|-d 1048576 -r 1"

# only ROWS: the rows of ROWS whose label BENCH_ONLY matches.
only() {
	if [ -z "${BENCH_ONLY:-}" ]; then
		printf '%s\n' "$1"
	else
		printf '%s\n' "$1" | awk -F'|' -v re="$BENCH_ONLY" '$1 ~ re'
	fi
}
rows=$(only "$rows")
large_rows=$(only "$large_rows")
[ -n "$rows$large_rows" ] || bench_die "BENCH_ONLY matches no row"
[ -z "$large_rows" ] && BENCH_LARGE=0

bench_find_programs
bench_need_redis
bench_pin
bench_make_tmp
t=$bench_tmp

start_objd "$t/o.sock" "$t/objd/objd.pb" never
o_pid=$started_pid
start_objd "$t/od.sock" "$t/objd-durable/objd.pb" always
od_pid=$started_pid
start_redis "$t/r.sock" "$t/redis" --save '' --appendonly no
r_pid=$started_pid
start_redis "$t/rd.sock" "$t/redis-durable" --save '' --appendonly yes \
    --appendfsync always
rd_pid=$started_pid
# objd --fsync never's promise: each change written to the file before
# its answer, synced when the kernel decides. One pingpong row only.
start_redis "$t/ra.sock" "$t/redis-aof" --save '' --appendonly yes \
    --appendfsync no
ra_pid=$started_pid
if [ "${BENCH_LARGE:-1}" = 1 ]; then
	start_objd "$t/ol.sock" "$t/objd-large/objd.pb" never
	ol_pid=$started_pid
	start_redis "$t/rl.sock" "$t/redis-large" --save '' --appendonly yes \
	    --appendfsync no
	rl_pid=$started_pid
fi

redis_version=$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')
echo "objd $("$OBJCTL_BIN" --version | awk '{ print $NF }') against" \
    "redis-server $redis_version, UNIX sockets, $(date -u +%Y-%m-%d)"
echo "machine: $(bench_machine); $pin_note"
echo "every row: the median of $runs runs of each, -d $datasize," \
    "-r $keyspace; objd-bench and redis-benchmark alternate"
echo "plain rows: objd --fsync never against redis --save ''" \
    "--appendonly no"
echo "durable rows: objd --fsync always against redis --appendonly yes" \
    "--appendfsync always"
echo

# The keys that get reads, in all four servers.
if [ -n "$rows" ]; then
	"$OBJD_BENCH_BIN" -s "$t/o.sock" -t fill -r "$keyspace" \
	    -d "$datasize" -q >/dev/null
	"$OBJD_BENCH_BIN" -s "$t/od.sock" -t fill -r "$keyspace" \
	    -d "$datasize" -q >/dev/null
	redis_fill "$t/r.sock" "$keyspace" "$datasize"
	redis_fill "$t/rd.sock" "$keyspace" "$datasize"
fi

# The CPU time of this shell's finished children (the clients), in ns.
# times runs in this shell, not in a subshell, which would see none.
children_cpu() {
	times >"$t/times"
	awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
	    printf "%.0f\n", ((u[1] + s[1]) * 60 + u[2] + s[2]) * 1e9 }' \
	    "$t/times"
}

# measure SERVER_PID COMMAND...: runs a client with --csv; sets rate to
# its requests per second, and srv_us and cli_us to the server's and the
# client's CPU time per request.
measure() {
	local pid=$1 s0 s1 c0 c1
	shift
	s0=$(cpu_ns "$pid")
	children_cpu >"$t/c0"
	"$@" --csv >"$t/out" || bench_die "failed: $*"
	children_cpu >"$t/c1"
	s1=$(cpu_ns "$pid")
	c0=$(cat "$t/c0") c1=$(cat "$t/c1")
	rate=$(csv_rps <"$t/out")
	[ -n "$rate" ] || bench_die "no rate from: $*"
	srv_us=$(awk -v a="$s0" -v b="$s1" -v n="$requests" \
	    'BEGIN { printf "%.2f", (b - a) / n / 1000 }')
	cli_us=$(awk -v a="$c0" -v b="$c1" -v n="$requests" \
	    'BEGIN { printf "%.2f", (b - a) / n / 1000 }')
}

table=$t/table
same=$t/same
runs_out=$t/runs
: >"$table"
: >"$same"
: >"$runs_out"
while IFS='|' read -r label test clients pipeline requests durable; do
	[ -n "$label" ] || continue
	requests=$(awk -v n="$requests" -v s="$scale" \
	    'BEGIN { n *= s; print (n < 1 ? 1 : int(n)) }')
	if [ "$durable" = 1 ]; then
		osock=$t/od.sock rsock=$t/rd.sock opid=$od_pid rpid=$rd_pid
	else
		osock=$t/o.sock rsock=$t/r.sock opid=$o_pid rpid=$r_pid
	fi
	args="-c $clients -n $requests -P $pipeline -d $datasize -r $keyspace"
	o_runs="" r_runs="" o_cpus="" r_cpus="" o_cli="" r_cli="" s_runs=""
	for _ in $(seq "$runs"); do
		measure "$opid" "${client_pin[@]}" "$OBJD_BENCH_BIN" \
		    -s "$osock" -t "$test" --no-fill $args
		o_runs="$o_runs $rate" o_cpus="$o_cpus $srv_us"
		o_cli="$o_cli $cli_us"
		measure "$rpid" "${client_pin[@]}" redis-benchmark \
		    -s "$rsock" -t "$test" $args
		r_runs="$r_runs $rate" r_cpus="$r_cpus $srv_us"
		r_cli="$r_cli $cli_us"
		measure "$rpid" "${client_pin[@]}" "$OBJD_BENCH_BIN" --redis \
		    -s "$rsock" -t "$test" --no-fill $args
		s_runs="$s_runs $rate"
	done
	o=$(printf '%s\n' $o_runs | median)
	r=$(printf '%s\n' $r_runs | median)
	oc=$(printf '%s\n' $o_cpus | median)
	rc=$(printf '%s\n' $r_cpus | median)
	printf '%s|%s|%s|%s|%s|%s\n' "$label" "$o" "$r" "-n $requests" \
	    "$oc" "$rc" >>"$table"
	printf '%s|%s|%s\n' "$label" "$o" \
	    "$(printf '%s\n' $s_runs | median)" >>"$same"
	{
		printf '%-24s objd:%s  redis:%s\n' "$label" "$o_runs" \
		    "$r_runs"
		printf '%-24s redis with objd-bench:%s\n' "" "$s_runs"
		printf '%-24s objd-bench %s, redis-benchmark %s\n' "" \
		    "$(printf '%s\n' $o_cli | median)" \
		    "$(printf '%s\n' $r_cli | median)"
	} >>"$runs_out"
	bench_note "$label: objd $o, redis $r ops/s"
done <<EOF
$rows
EOF

# The 1-client rows with the same client program for both servers.
: "${PINGPONG_BIN:=tests/bench/pingpong}"
pp_table=$t/pingpong
: >"$pp_table"
pp_requests=$(awk -v s="$scale" 'BEGIN { n = 20000 * s;
    print (n < 1 ? 1 : int(n)) }')
# pingpong_run SERVER_PID PROTOCOL SOCKET TEST: sets rate and srv_us.
pingpong_run() {
	local s0 s1
	s0=$(cpu_ns "$1")
	rate=$("${client_pin[@]}" "$PINGPONG_BIN" "$2" "$3" "$4" \
	    "$pp_requests" | awk '{ print $1 }') ||
	    bench_die "pingpong $2 $4 failed"
	s1=$(cpu_ns "$1")
	srv_us=$(awk -v a="$s0" -v b="$s1" -v n="$pp_requests" \
	    'BEGIN { printf "%.2f", (b - a) / n / 1000 }')
}
if [ -n "${BENCH_ONLY:-}" ]; then
	:
elif [ -x "$PINGPONG_BIN" ]; then
	for test in get set; do
		o_runs="" r_runs="" o_cpus="" r_cpus=""
		for _ in $(seq "$runs"); do
			pingpong_run "$o_pid" objd "$t/o.sock" "$test"
			o_runs="$o_runs $rate" o_cpus="$o_cpus $srv_us"
			pingpong_run "$r_pid" redis "$t/r.sock" "$test"
			r_runs="$r_runs $rate" r_cpus="$r_cpus $srv_us"
		done
		printf '%s|%s|%s|%s|%s|%s\n' "$test 1 client, pingpong" \
		    "$(printf '%s\n' $o_runs | median)" \
		    "$(printf '%s\n' $r_runs | median)" "-n $pp_requests" \
		    "$(printf '%s\n' $o_cpus | median)" \
		    "$(printf '%s\n' $r_cpus | median)" >>"$pp_table"
		printf '%-24s objd:%s  redis:%s\n' \
		    "$test 1 client, pingpong" "$o_runs" "$r_runs" >>"$runs_out"
	done
	o_runs="" r_runs="" o_cpus="" r_cpus=""
	for _ in $(seq "$runs"); do
		pingpong_run "$o_pid" objd "$t/o.sock" set
		o_runs="$o_runs $rate" o_cpus="$o_cpus $srv_us"
		pingpong_run "$ra_pid" redis "$t/ra.sock" set
		r_runs="$r_runs $rate" r_cpus="$r_cpus $srv_us"
	done
	printf '%s|%s|%s|%s|%s|%s\n' "set 1 client, pingpong, redis AOF" \
	    "$(printf '%s\n' $o_runs | median)" \
	    "$(printf '%s\n' $r_runs | median)" "-n $pp_requests" \
	    "$(printf '%s\n' $o_cpus | median)" \
	    "$(printf '%s\n' $r_cpus | median)" >>"$pp_table"
	printf '%-24s objd:%s  redis AOF:%s\n' "set 1 client, pingpong" \
	    "$o_runs" "$r_runs" >>"$runs_out"
else
	bench_note "$PINGPONG_BIN not found: no pingpong rows"
fi

# The rows beyond small keys, objd-bench for both servers.
large_table=$t/large
# Each server's runs of a row come one after the other, and the other
# server's start once it is done with them: what a run leaves to do
# (redis's AOF rewrite, which its cron starts up to 0.1 s after a run,
# and its sync of the old AOF on a thread, 64 MB or more; objd's
# compaction, or its own look a second after the last one began) is
# done during the server's own next run, not the other's. A compaction
# syncs its snapshot, and a sync that waited behind redis's let a few
# hundred MB of sets come, which it then copied. settle pauses past
# both, waits while either has a rewrite or a compaction under way
# (objd's new file is in its folder while one runs), then runs sync(1),
# which writes out what either left.
settle() {
	sleep 1.2
	for _ in $(seq 100); do
		compgen -G "$t/objd-large/.objd-new.*" >/dev/null ||
		    redis-cli -s "$t/rl.sock" info persistence |
		    grep -q '^aof_rewrite_in_progress:1' || break
		sleep 0.1
	done
	sync
}
: >"$large_table"
if [ "${BENCH_LARGE:-1}" = 1 ]; then
	# The largest folder of each server seen during these rows, sampled
	# on the clients' CPU: while a compaction (or an AOF rewrite) runs,
	# its new file and the old one are there together, and the end shows
	# neither.
	(
		if [ ${#client_pin[@]} -gt 0 ]; then
			taskset -pc "${client_pin[2]}" "$BASHPID" >/dev/null
		fi
		while :; do
			for dir in "$t/objd-large" "$t/redis-large"; do
				kb=$(du -sk "$dir" 2>/dev/null | cut -f1)
				peak=$(cat "$dir-peak" 2>/dev/null || echo 0)
				if [ "${kb:-0}" -gt "$peak" ]; then
					echo "$kb" >"$dir-peak"
				fi
			done
			sleep 0.2
		done
	) &
	sampler_pid=$!
	bench_pids="$bench_pids $sampler_pid"
	while IFS='|' read -r label test clients requests options; do
		[ -n "$label" ] || continue
		requests=$(awk -v n="$requests" -v s="$scale" \
		    'BEGIN { n *= s; print (n < 1 ? 1 : int(n)) }')
		args="-t $test -c $clients -n $requests $options --no-fill"
		o_runs="" r_runs="" o_cpus="" r_cpus=""
		settle
		for _ in $(seq "$runs"); do
			measure "$ol_pid" "${client_pin[@]}" "$OBJD_BENCH_BIN" \
			    -s "$t/ol.sock" $args
			o_runs="$o_runs $rate" o_cpus="$o_cpus $srv_us"
		done
		settle
		for _ in $(seq "$runs"); do
			measure "$rl_pid" "${client_pin[@]}" "$OBJD_BENCH_BIN" \
			    --redis -s "$t/rl.sock" $args
			r_runs="$r_runs $rate" r_cpus="$r_cpus $srv_us"
		done
		printf '%s|%s|%s|%s|%s|%s\n' "$label" \
		    "$(printf '%s\n' $o_runs | median)" \
		    "$(printf '%s\n' $r_runs | median)" "-n $requests" \
		    "$(printf '%s\n' $o_cpus | median)" \
		    "$(printf '%s\n' $r_cpus | median)" >>"$large_table"
		printf '%-24s objd:%s  redis AOF:%s\n' "$label" "$o_runs" \
		    "$r_runs" >>"$runs_out"
		bench_note "$label: done"
	done <<EOF
$large_rows
EOF
	kill "$sampler_pid" 2>/dev/null || true
	wait "$sampler_pid" 2>/dev/null || true
	bench_forget_pid "$sampler_pid"
	large_files="objd $(du -sk "$t/objd-large" | cut -f1) kB,"
	large_files="$large_files redis $(du -sk "$t/redis-large" | cut -f1) kB"
	large_rss="objd $(rss_kb "$ol_pid") kB, redis $(rss_kb "$rl_pid") kB"
fi

# One call of each command line tool, start to exit.
if [ -z "${BENCH_ONLY:-}" ]; then
	"$OBJCTL_BIN" --socket "$t/o.sock" set name John >/dev/null
	redis-cli -s "$t/r.sock" set name John >/dev/null
	[ "$("$OBJCTL_BIN" --socket "$t/o.sock" get name)" = John ] ||
	    bench_die "objctl get name does not print John"
	[ "$(redis-cli -s "$t/r.sock" get name)" = John ] ||
	    bench_die "redis-cli get name does not print John"
	# The calls run from a subshell pinned like the clients: taskset in
	# front of each would add an exec to what is timed.
	(
		if [ ${#client_pin[@]} -gt 0 ]; then
			taskset -pc "${client_pin[2]}" "$BASHPID" >/dev/null
		fi
		for i in $(seq "$calls"); do
			t0=$EPOCHREALTIME
			"$OBJCTL_BIN" --socket "$t/o.sock" get name >/dev/null
			t1=$EPOCHREALTIME
			redis-cli -s "$t/r.sock" get name >/dev/null
			t2=$EPOCHREALTIME
			echo "$t0 $t1 $t2"
		done
	) >"$t/calls"
	o_ms=$(awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' "$t/calls" | median)
	r_ms=$(awk '{ printf "%.3f\n", ($3 - $2) * 1000 }' "$t/calls" | median)
fi

printf '%-34s %11s %11s %10s %12s\n' "" "objd" "redis" "" \
    "server CPU"
printf '%-34s %11s %11s %10s %12s\n' "row (requests)" "ops/s" "ops/s" \
    "objd/redis" "us/op o / r"
while IFS='|' read -r label o r n oc rc; do
	printf '%-34s %11.0f %11.0f %9.2fx %5.2f / %.2f\n' "$label ($n)" \
	    "$o" "$r" "$(awk -v o="$o" -v r="$r" 'BEGIN { print o / r }')" \
	    "$oc" "$rc"
done <"$table"
while IFS='|' read -r label o r n oc rc; do
	printf '%-34s %11.0f %11.0f %9.2fx %5.2f / %.2f\n' "$label" \
	    "$o" "$r" "$(awk -v o="$o" -v r="$r" 'BEGIN { print o / r }')" \
	    "$oc" "$rc"
done <"$pp_table"
if [ -z "${BENCH_ONLY:-}" ]; then
	printf '%-34s %8.2f ms %8.2f ms %9.2fx\n' \
	    "one get name: objctl, redis-cli" "$o_ms" "$r_ms" \
	    "$(awk -v o="$o_ms" -v r="$r_ms" 'BEGIN { print r / o }')"
fi
echo
echo "The same rows with one client program for both servers, objd-bench"
echo "(objd-bench --redis for redis-server; objd's column is the one above):"
printf '%-34s %11s %11s %10s\n' "row" "objd" "redis" "objd/redis"
while IFS='|' read -r label o r; do
	printf '%-34s %11.0f %11.0f %9.2fx\n' "$label" "$o" "$r" \
	    "$(awk -v o="$o" -v r="$r" 'BEGIN { print o / r }')"
done <"$same"
if [ -s "$large_table" ]; then
	echo
	echo "Beyond small keys, objd-bench for both servers: objd --fsync" \
	    "never against"
	echo "redis --appendonly yes --appendfsync no (a batch is objd's" \
	    "Batch and redis's MSET):"
	printf '%-40s %9s %11s %10s %12s\n' "row (requests)" "objd" \
	    "redis AOF" "objd/redis" "us/op o / r"
	while IFS='|' read -r label o r n oc rc; do
		printf '%-40s %9.0f %11.0f %9.2fx %5.0f / %.0f\n' \
		    "$label ($n)" "$o" "$r" \
		    "$(awk -v o="$o" -v r="$r" 'BEGIN { print o / r }')" \
		    "$oc" "$rc"
	done <"$large_table"
	echo "files at the end: $large_files"
	echo "largest folder seen during these rows (sampled every 0.2 s):" \
	    "objd $(cat "$t/objd-large-peak" 2>/dev/null || echo 0) kB," \
	    "redis $(cat "$t/redis-large-peak" 2>/dev/null || echo 0) kB"
	echo "resident memory at the end: $large_rss"
fi
echo
echo "objd/redis above 1.00x: objd is faster (for the call: redis-cli's"
echo "time over objctl's; each call is timed from exec to exit, the median"
echo "of $calls). server CPU: the server's own CPU time per request, all"
echo "threads, from /proc/PID/task/*/schedstat: not the client program's"
echo "CPU, but with one client it includes the server's wake-ups, whose"
echo "cost on a VM depends on how the client waits. pingpong: one client"
echo "program for both servers (tests/bench/pingpong.c: write a request,"
echo "block until its answer is in), $pp_requests requests a run. redis"
echo "AOF: redis --appendonly yes --appendfsync no, which like objd"
echo "--fsync never writes each change to its file before the answer. In"
echo "the second table objd-bench drives both servers, with the same"
echo "requests and the same waiting, so only the servers differ."
echo
echo "runs (ops/s), and the clients' own CPU time per request (us):"
cat "$runs_out"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
