#!/bin/bash
# SPDX-License-Identifier: ISC
# reload-latency.sh: how long clients wait while objd compacts or reloads
# a large file: `make bench-reload` (and the last part of `make bench`).
#
# Fills RELOAD_KEYS keys (key:000000000000 .., 3-byte values) into objd
# --fsync never, and prepares a second file of the same keys with 4-byte
# values, written by another objd. Each run then drives RELOAD_CLIENTS
# clients doing gets of random keys (objd-bench -t get) three times, for
# RELOAD_GETS gets in all each time, and takes the worst latency of each:
#   - idle: nothing else going on;
#   - compaction: `objctl compact` from RELOAD_DELAY s after the start;
#   - reload: a copy of the other state renamed over the file RELOAD_DELAY
#     s after the start, which objd's inotify watch picks up.
# A phase whose compaction or reload does not end before the gets do is
# refused (raise RELOAD_GETS). Every figure is the median of RELOAD_RUNS
# runs; the ratio is each phase's median worst against the idle one.
# Environment: as bench.sh (OBJD_BIN, OBJCTL_BIN, OBJD_BENCH_BIN,
# BENCH_PIN, BENCH_TMPDIR), RELOAD_KEYS (1000000), RELOAD_CLIENTS (10),
# RELOAD_GETS (1500000), RELOAD_RUNS (3), RELOAD_DELAY (0.5).
# The lists of figures are split into words on purpose.
# shellcheck disable=SC2086
set -eu
. "$(dirname "$0")/lib.sh"

keys=${RELOAD_KEYS:-1000000}
clients=${RELOAD_CLIENTS:-10}
gets=${RELOAD_GETS:-1500000}
runs=${RELOAD_RUNS:-3}
delay=${RELOAD_DELAY:-0.5}

bench_find_programs
bench_pin
bench_make_tmp
t=$bench_tmp

# The number of lines of the log that say a reload ended: loaded, or
# found the same state, or rejected.
reloads_logged() {
	grep -c -e '^.*loaded .*keys, revision' "$1" || true
}

# gets_worst: the worst latency (ms) of one run of gets, from its CSV.
gets_worst() {
	awk -F'"' 'NR == 2 { print $16 }' "$1"
}

start_gets() {
	"${client_pin[@]}" "$OBJD_BENCH_BIN" -s "$t/o.sock" -t get \
	    -c "$clients" -n "$gets" -r "$keys" --no-fill --csv \
	    >"$t/gets.csv" &
	gets_pid=$!
}

end_gets() {
	wait "$gets_pid" || bench_die "objd-bench failed: $(cat "$t/gets.csv")"
	worst=$(gets_worst "$t/gets.csv")
	[ -n "$worst" ] || bench_die "no latency from objd-bench"
}

gets_running() {
	kill -0 "$gets_pid" 2>/dev/null
}

# The other state: the same keys with other values, as a file objd wrote.
bench_note "filling $keys keys twice"
start_objd "$t/other.sock" "$t/other/objd.pb" never
"$OBJD_BENCH_BIN" -s "$t/other.sock" -t fill -r "$keys" -d 4 -q >/dev/null
"$OBJCTL_BIN" --socket "$t/other.sock" compact
bench_stop "$started_pid"
start_objd "$t/o.sock" "$t/objd/objd.pb" never
o_pid=$started_pid
"${client_pin[@]}" "$OBJD_BENCH_BIN" -s "$t/o.sock" -t fill -r "$keys" -d 3 \
    -q >/dev/null
"$OBJCTL_BIN" --socket "$t/o.sock" compact
cp "$t/objd/objd.pb" "$t/mine.pb"
o_log=$t/objd/objd.pb.log

idles="" compacts="" reloads=""
for i in $(seq "$runs"); do
	bench_note "run $i of $runs"
	start_gets
	end_gets
	idles="$idles $worst"

	start_gets
	sleep "$delay"
	"$OBJCTL_BIN" --socket "$t/o.sock" compact
	gets_running ||
	    bench_die "the compaction outlasted the gets: raise RELOAD_GETS"
	end_gets
	compacts="$compacts $worst"

	# Each reload brings the state objd does not hold.
	if [ $((i % 2)) -eq 1 ]; then src=$t/other/objd.pb; else src=$t/mine.pb; fi
	cp "$src" "$t/objd/incoming.pb"
	before=$(reloads_logged "$o_log")
	start_gets
	sleep "$delay"
	mv "$t/objd/incoming.pb" "$t/objd/objd.pb"
	until [ "$(reloads_logged "$o_log")" -gt "$before" ]; do
		gets_running ||
		    bench_die "the reload outlasted the gets: raise RELOAD_GETS"
		sleep 0.05
	done
	gets_running ||
	    bench_die "the reload outlasted the gets: raise RELOAD_GETS"
	end_gets
	reloads="$reloads $worst"
	# The write-back of the reloaded state ends before the next run.
	"$OBJCTL_BIN" --socket "$t/o.sock" compact
done
bench_stop "$o_pid"

idle=$(printf '%s\n' $idles | median)
compact=$(printf '%s\n' $compacts | median)
reload=$(printf '%s\n' $reloads | median)
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", (b == 0 ? 0 : a / b) }'
}

echo "objd $("$OBJCTL_BIN" --version | awk '{ print $NF }'): worst get" \
    "latency of $clients clients, $keys keys, $(date -u +%Y-%m-%d)"
echo "machine: $(bench_machine); $pin_note"
echo "medians of $runs runs of $gets gets each"
echo
printf '%-36s %12s %10s\n' "" "worst, ms" "/ idle"
printf '%-36s %12s %10s\n' "idle" "$idle" "1.0x"
printf '%-36s %12s %10s\n' "during objctl compact" "$compact" \
    "$(ratio "$compact" "$idle")"
printf '%-36s %12s %10s\n' "during a reload of a renamed-in file" "$reload" \
    "$(ratio "$reload" "$idle")"
echo
echo "runs (ms): idle$idles; compaction$compacts; reload$reloads"
