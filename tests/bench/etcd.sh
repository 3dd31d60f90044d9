#!/bin/bash
# SPDX-License-Identifier: ISC
# etcd.sh: objd on etcd against etcd itself and a local objd: `make
# bench-etcd`.
#
# Starts a 3-member etcd cluster on 127.0.0.1 with its data on tmpfs
# (/dev/shm, or BENCH_ETCD_DIR), an objd on it (--etcd), and a local
# objd (--fsync never: the cluster's tmpfs syncs cost nothing either).
# Each row runs the same operations three ways: objd-bench against the
# objd on etcd, etcd-direct (the same gRPC client straight to etcd: a
# Range of one key, a Txn putting one key) and objd-bench against the
# local objd. Gets through objd are served from its cache, so they run
# at a local objd's speed; a set through objd is one etcd Txn (the key
# and the meta key) answered once objd's cache holds it, so it costs
# about one direct Txn. Each figure is the median of BENCH_RUNS runs
# (3): requests per second, and the median latency in ms. Then the CPU
# time of one set with one client: the objd on etcd's (from its
# /proc/PID/stat, over the sets of one run) and etcd-direct's (the
# whole process, start included) for a Txn. Everything
# started here is stopped and its folder removed, however it ends.
#
# Environment: OBJD_BIN, OBJCTL_BIN, OBJD_BENCH_BIN, ETCD_DIRECT_BIN,
# BENCH_RUNS (3), BENCH_SCALE (1: multiplies the request counts),
# BENCH_ETCD_DIR (/dev/shm).
# The lists of figures are split into words on purpose.
# shellcheck disable=SC2086
set -eu
. "$(dirname "$0")/lib.sh"

runs=${BENCH_RUNS:-3}
scale=${BENCH_SCALE:-1}
: "${ETCD_DIRECT_BIN:=tests/bench/etcd-direct}"
[ -x "$ETCD_DIRECT_BIN" ] || bench_die "$ETCD_DIRECT_BIN not found"
command -v etcd >/dev/null ||
    bench_die "etcd not found: apt-get install etcd-server"

# label | test | clients | requests
rows="get 1 client|get|1|5000
set 1 client|set|1|2000
get 10 clients|get|10|20000
set 10 clients|set|10|5000"

bench_find_programs
bench_pin
BENCH_TMPDIR=${BENCH_ETCD_DIR:-/dev/shm} bench_make_tmp 2>/dev/null
t=$bench_tmp

# Six free ports on 127.0.0.1, kept bound until all are chosen.
ports=$(python3 -c '
import socket
s = [socket.socket() for _ in range(6)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
set -- $ports
cluster="m0=http://127.0.0.1:$2,m1=http://127.0.0.1:$4,m2=http://127.0.0.1:$6"
endpoints="http://127.0.0.1:$1,http://127.0.0.1:$3,http://127.0.0.1:$5"
for i in 0 1 2; do
	c=$1 p=$2
	shift 2
	"${server_pin[@]}" etcd --name "m$i" --data-dir "$t/m$i" \
	    --listen-client-urls "http://127.0.0.1:$c" \
	    --advertise-client-urls "http://127.0.0.1:$c" \
	    --listen-peer-urls "http://127.0.0.1:$p" \
	    --initial-advertise-peer-urls "http://127.0.0.1:$p" \
	    --initial-cluster "$cluster" --initial-cluster-token "$t" \
	    --heartbeat-interval 50 --election-timeout 500 --pre-vote \
	    --experimental-watch-progress-notify-interval 1s \
	    --log-level error >>"$t/etcd.log" 2>&1 &
	bench_pids="$bench_pids $!"
done
for url in ${endpoints//,/ }; do
	i=0
	until curl -s "$url/health" | grep -q '"health":"true"'; do
		[ "$i" -lt 300 ] || bench_die "etcd is not healthy: $(tail -n 3 "$t/etcd.log")"
		sleep 0.1
		i=$((i + 1))
	done
done

start_objd "$t/e.sock" "$t/oe/objd.pb" never --etcd "$endpoints"
eobjd=$started_pid
start_objd "$t/l.sock" "$t/ol/objd.pb" never

# objd-bench: "rps p50" of one run.
objd_run() {
	local sock=$1 test=$2 clients=$3 n=$4
	"${client_pin[@]}" "$OBJD_BENCH_BIN" -s "$sock" -c "$clients" \
	    -n "$n" -t "$test" -r 1000 --csv -q |
	    awk -F'"' 'NR == 2 { print $4, $10 }'
}

direct_run() {
	"${client_pin[@]}" "$ETCD_DIRECT_BIN" "$endpoints" "$2" "$4" "$3"
}

# The median of each of the two columns of BENCH_RUNS runs.
medians() {
	local fn=$1 out rps="" p50=""
	shift
	for _ in $(seq "$runs"); do
		out=$("$fn" "$@") || bench_die "$fn $* failed"
		rps="$rps $(echo "$out" | cut -d' ' -f1)"
		p50="$p50 $(echo "$out" | cut -d' ' -f2)"
	done
	printf '%s (%s ms)' "$(printf '%s\n' $rps | median)" \
	    "$(printf '%s\n' $p50 | median)"
}

echo "# objd on etcd: 3 members on $(stat -f -c %T "$t"), $pin_note"
echo "# $(bench_machine); etcd $(etcd --version | awk 'NR == 1 { print $3 }')"
echo "# requests/s (median latency), median of $runs runs"
echo
echo "| | objd on etcd | etcd directly | local objd |"
echo "|---|---|---|---|"
while IFS='|' read -r label test clients n; do
	n=$((n * scale))
	echo "| $label | $(medians objd_run "$t/e.sock" "$test" "$clients" "$n")" \
	    "| $(medians direct_run x "$test" "$clients" "$n")" \
	    "| $(medians objd_run "$t/l.sock" "$test" "$clients" "$n") |"
done <<<"$rows"

# CPU seconds (user + system) that pid used so far.
proc_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# CPU seconds (user + system) of the command given, run to its end: a
# shell of its own reports its child's times.
command_cpu() {
	local out
	out=$(bash -c '"$@" >/dev/null || exit 1; times' _ "$@") || return 1
	echo "$out" | awk 'NR == 2 {
		split($1, u, /[ms]/); split($2, s, /[ms]/)
		print u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

n=$((3000 * scale))
before=$(proc_cpu "$eobjd")
objd_run "$t/e.sock" set 1 "$n" >/dev/null || bench_die "objd-bench failed"
after=$(proc_cpu "$eobjd")
direct=$(command_cpu "${client_pin[@]}" "$ETCD_DIRECT_BIN" "$endpoints" set \
    "$n" 1) || bench_die "etcd-direct failed"
echo
awk -v n="$n" -v b="$before" -v a="$after" -v d="$direct" 'BEGIN {
	printf "CPU per set, 1 client, %d sets: objd on etcd %.0f µs, " \
	    "etcd-direct %.0f µs a Txn\n", n, (a - b) * 1e6 / n, d * 1e6 / n }'
