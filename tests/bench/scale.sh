#!/bin/bash
# SPDX-License-Identifier: ISC
# scale.sh: objd and redis-server with 1,000,000 keys: `make bench-scale`.
#
# Fills SCALE_KEYS keys (key:000000000000 .., SCALE_DATASIZE bytes of x
# each) into objd --fsync never and into a redis-server without
# persistence, and reports:
#   - memory per key: objd's RSS against redis's used_memory and RSS,
#     each less the same figure of the empty server, after the fill and
#     again after a restart that loads the keys from disk;
#   - the file after `objctl compact` against redis's RDB after SAVE,
#     plain and with the same state compacted by an objd --compress;
#   - loading: the time from the exec of the server to its first answer
#     (objctl ping, redis-cli ping, in a tight loop), less the same with
#     an empty file, as keys per second; the same from the CPU time the
#     server had used by its first answer, which a busy machine disturbs
#     less; redis's own "DB loaded from disk" figure beside them; both
#     again for objd (started without --compress) on the compressed file;
#   - one set: p50 latency and objd's CPU time per set of objd-bench -c 1
#     -n SCALE_SETS -t set over SCALE_SMALL keys and over SCALE_KEYS keys,
#     with --fsync never and with --fsync always.
#   - history: the memory and compacted file per key of objd's default
#     history against --history 0, for SCALE_HISTORY_KEYS keys set once,
#     then set SCALE_HISTORY_SETS times in all.
# Every figure is the median of SCALE_RUNS runs (loads: SCALE_LOADS).
# Environment: as bench.sh (OBJD_BIN, OBJCTL_BIN, OBJD_BENCH_BIN,
# BENCH_PIN, BENCH_TMPDIR), SCALE_KEYS (1000000), SCALE_SMALL (1000),
# SCALE_DATASIZE (3), SCALE_SETS (20000), SCALE_RUNS (3), SCALE_LOADS (7),
# SCALE_HISTORY_KEYS (SCALE_KEYS), SCALE_HISTORY_SETS (5).
# The lists of figures are split into words on purpose.
# shellcheck disable=SC2086
set -eu
. "$(dirname "$0")/lib.sh"

keys=${SCALE_KEYS:-1000000}
hkeys=${SCALE_HISTORY_KEYS:-$keys}
hsets=${SCALE_HISTORY_SETS:-5}
small=${SCALE_SMALL:-1000}
datasize=${SCALE_DATASIZE:-3}
sets=${SCALE_SETS:-20000}
runs=${SCALE_RUNS:-3}
loads=${SCALE_LOADS:-7}

bench_find_programs
bench_need_redis
bench_pin
bench_make_tmp
t=$bench_tmp

redis_info() {
	redis-cli -s "$1" info "$2" | tr -d '\r' |
	    awk -F: -v k="$3" '$1 == k { print $2 }'
}

# Waits until objd has no compaction running: its memory and its file
# are measured at rest.
objd_settle() {
	local i=0
	sleep 0.5
	while [ -n "$(pgrep -P "$1" 2>/dev/null)" ] && [ "$i" -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# wait_answer objd|redis SOCKET: polls until the server answers.
wait_answer() {
	if [ "$1" = objd ]; then
		until "$OBJCTL_BIN" --socket "$2" --timeout 10 ping \
		    >/dev/null 2>&1; do :; done
	else
		until [ "$(redis-cli -s "$2" ping 2>/dev/null)" = PONG ]; do
			:
		done
	fi
}

# time_start objd|redis DIR: starts the server on DIR's file, returns
# (in started_ms) the time from the exec to its first answer and (in
# started_cpu) the CPU time the server had used by then, then stops it.
# The poll loop runs pinned like the clients. On a shared machine the
# wall time varies with what else runs; the CPU time hardly does.
time_start() {
	local kind=$1 dir=$2 sock=$t/load.sock t0 t1 pid
	t0=$EPOCHREALTIME
	if [ "$kind" = objd ]; then
		"${server_pin[@]}" "$OBJD_BIN" --foreground \
		    --file "$dir/objd.pb" --socket "$sock" --fsync never \
		    2>>"$dir/objd.log" &
	else
		"${server_pin[@]}" redis-server --port 0 --unixsocket "$sock" \
		    --unixsocketperm 700 --dir "$dir" --dbfilename dump.rdb \
		    --save '' --appendonly no --logfile "$dir/redis.log" \
		    --daemonize no >/dev/null 2>&1 &
	fi
	pid=$!
	bench_pids="$bench_pids $pid"
	if [ ${#client_pin[@]} -gt 0 ]; then
		(taskset -pc "${client_pin[2]}" "$BASHPID" >/dev/null
		    wait_answer "$kind" "$sock")
	else
		wait_answer "$kind" "$sock"
	fi
	t1=$EPOCHREALTIME
	started_ms=$(awk -v a="$t0" -v b="$t1" \
	    'BEGIN { printf "%.1f", (b - a) * 1000 }')
	started_cpu=$(cpu_ns "$pid" | awk '{ printf "%.1f", $1 / 1e6 }')
	if [ "$kind" = redis ]; then
		redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
	fi
	bench_stop "$pid"
}

# set_latency SOCKET PID KEYSPACE: the median p50 (ms) and server CPU
# per set (us) of runs of objd-bench -c 1 -t set, in p50 and cpu.
set_latency() {
	local sock=$1 pid=$2 space=$3 ps="" cs="" c0 c1 out
	for _ in $(seq "$runs"); do
		c0=$(cpu_ns "$pid")
		out=$("${client_pin[@]}" "$OBJD_BENCH_BIN" -s "$sock" -c 1 \
		    -n "$sets" -t set -r "$space" -d "$datasize" --csv)
		c1=$(cpu_ns "$pid")
		ps="$ps $(echo "$out" | awk -F'"' 'NR == 2 { print $10 }')"
		cs="$cs $(awk -v a="$c0" -v b="$c1" -v n="$sets" \
		    'BEGIN { printf "%.2f", (b - a) / n / 1000 }')"
	done
	p50=$(printf '%s\n' $ps | median)
	cpu=$(printf '%s\n' $cs | median)
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b == 0 ? 0 : a / b) }'
}

redis_version=$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')
echo "objd $("$OBJCTL_BIN" --version | awk '{ print $NF }') against" \
    "redis-server $redis_version with $keys keys" \
    "(key:%012d, $datasize-byte values), $(date -u +%Y-%m-%d)"
echo "machine: $(bench_machine); $pin_note"
echo "medians of $runs runs (loads: $loads); objd --fsync never and redis" \
    "--save '' --appendonly no unless said"
echo

# Memory: the empty servers, then full.
o_dir=$t/objd r_dir=$t/redis
start_objd "$t/o.sock" "$o_dir/objd.pb" never
o_pid=$started_pid
start_redis "$t/r.sock" "$r_dir" --save '' --appendonly no \
    --dbfilename dump.rdb
r_pid=$started_pid
sleep 0.5
o_rss0=$(rss_kb "$o_pid")
r_rss0=$(rss_kb "$r_pid")
r_used0=$(redis_info "$t/r.sock" memory used_memory)

bench_note "filling $keys keys"
t0=$EPOCHREALTIME
"${client_pin[@]}" "$OBJD_BENCH_BIN" -s "$t/o.sock" -t fill -r "$keys" \
    -d "$datasize" -q >"$t/fill"
t1=$EPOCHREALTIME
redis_fill "$t/r.sock" "$keys" "$datasize"
t2=$EPOCHREALTIME
objd_settle "$o_pid"
o_keys=$("$OBJCTL_BIN" --socket "$t/o.sock" status |
    awk '$1 == "keys:" { print $2 }')
r_keys=$(redis-cli -s "$t/r.sock" dbsize)
[ "$o_keys" = "$keys" ] || bench_die "objd holds $o_keys keys, not $keys"
[ "$r_keys" = "$keys" ] || bench_die "redis holds $r_keys keys, not $keys"
o_rss1=$(rss_kb "$o_pid")
r_rss1=$(rss_kb "$r_pid")
r_used1=$(redis_info "$t/r.sock" memory used_memory)
o_file_raw=$(stat -c %s "$o_dir/objd.pb")

# Files.
"$OBJCTL_BIN" --socket "$t/o.sock" compact
o_file=$(stat -c %s "$o_dir/objd.pb")
redis-cli -s "$t/r.sock" save >/dev/null
r_file=$(stat -c %s "$r_dir/dump.rdb")

# The same state compacted by an objd --compress, in a folder of its own;
# it stays as it is for the loads.
bench_note "compacting $keys keys with --compress"
oc_dir=$t/objd-compress
mkdir -p "$oc_dir"
cp "$o_dir/objd.pb" "$oc_dir/objd.pb"
start_objd "$t/oc.sock" "$oc_dir/objd.pb" never --compress
oc_pid=$started_pid
c0=$EPOCHREALTIME
"$OBJCTL_BIN" --socket "$t/oc.sock" compact
c1=$EPOCHREALTIME
oc_keys=$("$OBJCTL_BIN" --socket "$t/oc.sock" status |
    awk '$1 == "keys:" { print $2 }')
[ "$oc_keys" = "$keys" ] ||
    bench_die "objd --compress holds $oc_keys keys, not $keys"
bench_stop "$oc_pid"
oc_file=$(stat -c %s "$oc_dir/objd.pb")
oc_compact_ms=$(awk -v a="$c0" -v b="$c1" \
    'BEGIN { printf "%.0f", (b - a) * 1000 }')

# Set latency at $keys keys, fsync never, in the filled objd.
bench_note "set latency at $keys keys"
set_latency "$t/o.sock" "$o_pid" "$keys"
big_never_p50=$p50 big_never_cpu=$cpu
bench_stop "$o_pid"
redis-cli -s "$t/r.sock" shutdown nosave >/dev/null 2>&1 || true
bench_stop "$r_pid"
# The sets left the file bigger: compact it again for the loads.
start_objd "$t/o.sock" "$o_dir/objd.pb" always
o_pid=$started_pid
set_latency "$t/o.sock" "$o_pid" "$keys"
big_always_p50=$p50 big_always_cpu=$cpu
"$OBJCTL_BIN" --socket "$t/o.sock" compact
bench_stop "$o_pid"

# Loads: the full files and empty ones.
bench_note "timing starts"
mkdir -p "$t/objd-empty" "$t/redis-empty"
o_loads="" o_empty="" r_loads="" r_empty="" oc_loads="" oc_cpus=""
o_cpus="" o_cpus0="" r_cpus="" r_cpus0=""
for i in $(seq "$loads"); do
	time_start objd "$o_dir"
	o_loads="$o_loads $started_ms" o_cpus="$o_cpus $started_cpu"
	time_start objd "$oc_dir"
	oc_loads="$oc_loads $started_ms" oc_cpus="$oc_cpus $started_cpu"
	time_start objd "$t/objd-empty"
	o_empty="$o_empty $started_ms" o_cpus0="$o_cpus0 $started_cpu"
	time_start redis "$r_dir"
	r_loads="$r_loads $started_ms" r_cpus="$r_cpus $started_cpu"
	time_start redis "$t/redis-empty"
	r_empty="$r_empty $started_ms" r_cpus0="$r_cpus0 $started_cpu"
done
o_load=$(printf '%s\n' $o_loads | median)
o_load0=$(printf '%s\n' $o_empty | median)
r_load=$(printf '%s\n' $r_loads | median)
r_load0=$(printf '%s\n' $r_empty | median)
o_cpu=$(printf '%s\n' $o_cpus | median)
oc_load=$(printf '%s\n' $oc_loads | median)
oc_cpu=$(printf '%s\n' $oc_cpus | median)
o_cpu0=$(printf '%s\n' $o_cpus0 | median)
r_cpu=$(printf '%s\n' $r_cpus | median)
r_cpu0=$(printf '%s\n' $r_cpus0 | median)
r_logged=$(grep -o 'DB loaded from disk: [0-9.]* seconds' \
    "$r_dir/redis.log" | awk '{ print $5 * 1000 }' | median)

# Memory after a restart: the state as loaded from disk.
start_objd "$t/o.sock" "$o_dir/objd.pb" never
o_pid=$started_pid
start_redis "$t/r.sock" "$r_dir" --save '' --appendonly no \
    --dbfilename dump.rdb
r_pid=$started_pid
sleep 0.5
o_rss2=$(rss_kb "$o_pid")
r_rss2=$(rss_kb "$r_pid")
r_used2=$(redis_info "$t/r.sock" memory used_memory)
bench_stop "$o_pid"
redis-cli -s "$t/r.sock" shutdown nosave >/dev/null 2>&1 || true
bench_stop "$r_pid"

# Set latency at $small keys.
bench_note "set latency at $small keys"
s_dir=$t/objd-small
start_objd "$t/s.sock" "$s_dir/objd.pb" never
s_pid=$started_pid
"$OBJD_BENCH_BIN" -s "$t/s.sock" -t fill -r "$small" -d "$datasize" -q \
    >/dev/null
set_latency "$t/s.sock" "$s_pid" "$small"
small_never_p50=$p50 small_never_cpu=$cpu
bench_stop "$s_pid"
start_objd "$t/s.sock" "$s_dir/objd.pb" always
s_pid=$started_pid
set_latency "$t/s.sock" "$s_pid" "$small"
small_always_p50=$p50 small_always_cpu=$cpu
bench_stop "$s_pid"

# History: what the default history (objd --history 100) costs a key
# beyond none (--history 0), in memory and in the compacted file, with
# the keys set once, then set SCALE_HISTORY_SETS times in all.
bench_note "history of $hkeys keys"
history_cost() { # DEPTH: sets h_rss1 h_file1 h_rssn h_filen
	local d=$t/history-$1 sock=$t/h.sock pid rss0
	start_objd "$sock" "$d/objd.pb" never --history "$1"
	pid=$started_pid
	sleep 0.5
	rss0=$(rss_kb "$pid")
	"${client_pin[@]}" "$OBJD_BENCH_BIN" -s "$sock" -t fill -r "$hkeys" \
	    -d "$datasize" -q >/dev/null
	objd_settle "$pid"
	"$OBJCTL_BIN" --socket "$sock" compact
	h_rss1=$(($(rss_kb "$pid") - rss0))
	h_file1=$(stat -c %s "$d/objd.pb")
	# Each time another value (a set of the same value changes
	# nothing, and makes no version): one byte longer.
	for i in $(seq 2 "$hsets"); do
		"${client_pin[@]}" "$OBJD_BENCH_BIN" -s "$sock" -t fill \
		    -r "$hkeys" -d $((datasize + i - 1)) -q >/dev/null
	done
	objd_settle "$pid"
	"$OBJCTL_BIN" --socket "$sock" compact
	h_rssn=$(($(rss_kb "$pid") - rss0))
	h_filen=$(stat -c %s "$d/objd.pb")
	bench_stop "$pid"
}
history_cost 0
h0_rss1=$h_rss1 h0_file1=$h_file1 h0_rssn=$h_rssn h0_filen=$h_filen
history_cost 100
hd_rss1=$h_rss1 hd_file1=$h_file1 hd_rssn=$h_rssn hd_filen=$h_filen

per_key() { # kB after, kB before -> bytes per key
	awk -v a="$1" -v b="$2" -v n="$keys" \
	    'BEGIN { printf "%.1f", (a - b) * 1024 / n }'
}
per_key_b() { # bytes after, bytes before -> bytes per key
	awk -v a="$1" -v b="$2" -v n="$keys" \
	    'BEGIN { printf "%.1f", (a - b) / n }'
}
keys_per_s() { # ms, empty ms -> keys/s
	awk -v a="$1" -v b="$2" -v n="$keys" \
	    'BEGIN { printf "%.0f", (a > b ? n / ((a - b) / 1000) : 0) }'
}

o_mem1=$(per_key "$o_rss1" "$o_rss0")
o_mem2=$(per_key "$o_rss2" "$o_rss0")
r_mem1=$(per_key "$r_rss1" "$r_rss0")
r_mem2=$(per_key "$r_rss2" "$r_rss0")
r_used_k1=$(per_key_b "$r_used1" "$r_used0")
r_used_k2=$(per_key_b "$r_used2" "$r_used0")
o_kps=$(keys_per_s "$o_load" "$o_load0")
r_kps=$(keys_per_s "$r_load" "$r_load0")
o_kps_cpu=$(keys_per_s "$o_cpu" "$o_cpu0")
oc_kps=$(keys_per_s "$oc_load" "$o_load0")
oc_kps_cpu=$(keys_per_s "$oc_cpu" "$o_cpu0")
r_kps_cpu=$(keys_per_s "$r_cpu" "$r_cpu0")
r_kps_log=$(awk -v a="$r_logged" -v n="$keys" \
    'BEGIN { printf "%.0f", (a > 0 ? n / (a / 1000) : 0) }')

printf '%-44s %14s %14s %8s\n' "" objd redis objd/redis
printf '%-44s %14s %14s %8s\n' "memory, B/key, after the fill (RSS)" \
    "$o_mem1" "$r_mem1" "$(ratio "$o_mem1" "$r_mem1")"
printf '%-44s %14s %14s %8s\n' "memory, B/key, after a restart (RSS)" \
    "$o_mem2" "$r_mem2" "$(ratio "$o_mem2" "$r_mem2")"
printf '%-44s %14s %14s %8s\n' "  redis used_memory, B/key (fill, restart)" \
    "" "$r_used_k1, $r_used_k2" ""
printf '%-44s %14s %14s %8s\n' "file, B/key (objd compacted, redis RDB)" \
    "$(per_key_b "$o_file" 0)" "$(per_key_b "$r_file" 0)" \
    "$(ratio "$o_file" "$r_file")"
printf '%-44s %14s %14s\n' "  file bytes (objd before compaction: $o_file_raw)" \
    "$o_file" "$r_file"
printf '%-44s %14s %14s %8s\n' "file, B/key (objd --compress, redis RDB)" \
    "$(per_key_b "$oc_file" 0)" "$(per_key_b "$r_file" 0)" \
    "$(ratio "$oc_file" "$r_file")"
printf '%-44s %14s %14s\n' "  file bytes (compaction took $oc_compact_ms ms)" \
    "$oc_file" "$r_file"
printf '%-44s %14s %14s %8s\n' "load, keys/s (start to answer, less empty)" \
    "$o_kps" "$r_kps" "$(ratio "$o_kps" "$r_kps")"
printf '%-44s %14s %14s\n' "  start to answer, ms (full / empty)" \
    "$o_load / $o_load0" "$r_load / $r_load0"
printf '%-44s %14s %14s %8s\n' "load, keys/s of CPU time (less empty)" \
    "$o_kps_cpu" "$r_kps_cpu" "$(ratio "$o_kps_cpu" "$r_kps_cpu")"
printf '%-44s %14s %14s\n' "  CPU ms by the first answer (full / empty)" \
    "$o_cpu / $o_cpu0" "$r_cpu / $r_cpu0"
printf '%-44s %14s %14s %8s\n' "load --compress file, keys/s (wall)" \
    "$oc_kps" "$r_kps" "$(ratio "$oc_kps" "$r_kps")"
printf '%-44s %14s %14s %8s\n' "load --compress file, keys/s of CPU time" \
    "$oc_kps_cpu" "$r_kps_cpu" "$(ratio "$oc_kps_cpu" "$r_kps_cpu")"
printf '%-44s %14s %14s\n' "  --compress: start to answer ms; CPU ms" \
    "$oc_load; $oc_cpu" ""
printf '%-44s %14s %14s\n' "  redis's log: DB loaded from disk, ms; keys/s" \
    "" "$r_logged; $r_kps_log"
echo
printf '%-44s %14s %14s %8s\n' "one set, objd-bench -c 1 -n $sets" \
    "$small keys" "$keys keys" "big/small"
printf '%-44s %14s %14s %8s\n' "  --fsync never: p50 ms" \
    "$small_never_p50" "$big_never_p50" \
    "$(ratio "$big_never_p50" "$small_never_p50")"
printf '%-44s %14s %14s %8s\n' "  --fsync never: objd CPU us/set" \
    "$small_never_cpu" "$big_never_cpu" \
    "$(ratio "$big_never_cpu" "$small_never_cpu")"
printf '%-44s %14s %14s %8s\n' "  --fsync always: p50 ms" \
    "$small_always_p50" "$big_always_p50" \
    "$(ratio "$big_always_p50" "$small_always_p50")"
printf '%-44s %14s %14s %8s\n' "  --fsync always: objd CPU us/set" \
    "$small_always_cpu" "$big_always_cpu" \
    "$(ratio "$big_always_cpu" "$small_always_cpu")"
echo
hist_b() { # value (kB if kb), keys -> bytes per key
	awk -v a="$1" -v n="$hkeys" -v m="$2" \
	    'BEGIN { printf "%.1f", a * m / n }'
}
printf '%-44s %14s %14s %8s\n' "history, B/key of $hkeys keys" \
    "--history 100" "--history 0" "cost"
printf '%-44s %14s %14s %8s\n' "  memory (RSS), keys set once" \
    "$(hist_b "$hd_rss1" 1024)" "$(hist_b "$h0_rss1" 1024)" \
    "$(hist_b $((hd_rss1 - h0_rss1)) 1024)"
printf '%-44s %14s %14s %8s\n' "  file (compacted), keys set once" \
    "$(hist_b "$hd_file1" 1)" "$(hist_b "$h0_file1" 1)" \
    "$(hist_b $((hd_file1 - h0_file1)) 1)"
printf '%-44s %14s %14s %8s\n' "  memory (RSS), keys set $hsets times" \
    "$(hist_b "$hd_rssn" 1024)" "$(hist_b "$h0_rssn" 1024)" \
    "$(hist_b $((hd_rssn - h0_rssn)) 1024)"
printf '%-44s %14s %14s %8s\n' "  file (compacted), keys set $hsets times" \
    "$(hist_b "$hd_filen" 1)" "$(hist_b "$h0_filen" 1)" \
    "$(hist_b $((hd_filen - h0_filen)) 1)"
echo
echo "fill: objd $(awk -v a="$t0" -v b="$t1" -v n="$keys" \
    'BEGIN { printf "%.0f", n / (b - a) }') keys/s (objd-bench -t fill," \
    "100 keys a set), redis $(awk -v a="$t1" -v b="$t2" -v n="$keys" \
    'BEGIN { printf "%.0f", n / (b - a) }') keys/s (redis-cli --pipe)"
echo "loads (ms): objd$o_loads; empty$o_empty"
echo "            objd --compress file$oc_loads"
echo "            redis$r_loads; empty$r_empty"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
