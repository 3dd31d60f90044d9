# SPDX-License-Identifier: ISC
# lib.sh: what bench.sh and scale.sh share: finding the programs,
# installing redis, a temporary folder that goes away, starting and
# stopping servers, medians. Sourced, not run.
# shellcheck disable=SC2034 # the scripts use what bench_pin sets

export LC_ALL=C

: "${OBJD_BIN:=server/objd}"
: "${OBJCTL_BIN:=client/objctl}"
: "${OBJD_BENCH_BIN:=client/objd-bench}"

bench_tmp=""
bench_pids=""
server_pin=()
client_pin=()
pin_note="not pinned"

bench_die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

bench_note() {
	echo "${0##*/}: $*" >&2
}

# Finds objd, objctl and objd-bench, and refuses a libtool wrapper
# script: its shell start would be timed with the program.
bench_find_programs() {
	local p
	for p in "$OBJD_BIN" "$OBJCTL_BIN" "$OBJD_BENCH_BIN"; do
		[ -x "$p" ] || bench_die "$p not found: run make first," \
		    "or set OBJD_BIN, OBJCTL_BIN and OBJD_BENCH_BIN"
		if [ "$(head -c 2 "$p")" = "#!" ]; then
			bench_die "$p is a script (a libtool wrapper?):" \
			    "point the variable at the real program"
		fi
	done
}

# Installs Debian's redis-server and redis-tools when one of the
# programs is missing.
bench_need_redis() {
	local sudo=""
	if command -v redis-server >/dev/null &&
	    command -v redis-cli >/dev/null &&
	    command -v redis-benchmark >/dev/null; then
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	bench_note "installing redis-server and redis-tools"
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
	    --no-install-recommends redis-server redis-tools >/dev/null ||
	    bench_die "cannot install redis-server and redis-tools"
	command -v redis-benchmark >/dev/null ||
	    bench_die "redis-benchmark is still missing"
}

# Stops every server started here, and removes the folder.
bench_cleanup() {
	local pid
	for pid in $bench_pids; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $bench_pids; do
		bench_wait_exit "$pid" 100 || kill -KILL "$pid" 2>/dev/null ||
		    true
	done
	bench_pids=""
	if [ -n "$bench_tmp" ]; then
		rm -rf "$bench_tmp"
		bench_tmp=""
	fi
}

# BENCH_PIN=SERVER:CLIENT (CPU lists for taskset; default 0:1) or none.
# On a VM a wakeup across CPUs costs tens of microseconds, and where the
# scheduler puts a lone client decides whether one request takes 10 us
# or 80: pinned, every run and both servers see the same placement.
bench_pin() {
	local pin=${BENCH_PIN-0:1}
	if [ "$pin" = none ] || [ -z "$pin" ] ||
	    { [ "$pin" = 0:1 ] && [ "$(nproc)" -lt 2 ]; } ||
	    ! command -v taskset >/dev/null; then
		return 0
	fi
	case $pin in
	*:*) ;;
	*) bench_die "BENCH_PIN wants SERVER_CPUS:CLIENT_CPUS or none" ;;
	esac
	server_pin=(taskset -c "${pin%%:*}")
	client_pin=(taskset -c "${pin#*:}")
	pin_note="servers on CPU ${pin%%:*}, clients on CPU ${pin#*:}"
}

# A folder on disk, not tmpfs, so that fsync costs what it costs; the
# path stays short, for the sockets.
bench_make_tmp() {
	local base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	bench_tmp=$(mktemp -d "$base/objd-bench.XXXXXX") ||
	    bench_die "cannot make a folder in $base"
	if [ "$(stat -f -c %T "$bench_tmp")" = tmpfs ]; then
		bench_note "warning: $base is tmpfs: fsync costs nothing" \
		    "there (set BENCH_TMPDIR to a folder on disk)"
	fi
}

# Waits up to tenths/10 seconds for pid to exit; false if it did not.
bench_wait_exit() {
	local pid=$1 tenths=$2 i=0
	while kill -0 "$pid" 2>/dev/null; do
		[ "$i" -lt "$tenths" ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
	wait "$pid" 2>/dev/null || true
	return 0
}

bench_forget_pid() {
	local p out=""
	for p in $bench_pids; do
		[ "$p" = "$1" ] || out="$out $p"
	done
	bench_pids=$out
}

# Stops one server started here, and waits for it.
bench_stop() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	bench_wait_exit "$pid" 300 || {
		kill -KILL "$pid" 2>/dev/null || true
		bench_wait_exit "$pid" 50 || true
	}
	bench_forget_pid "$pid"
}

# start_objd SOCKET FILE FSYNC [ARGS...]: objd in the foreground, logging
# beside its file; sets started_pid once the socket answers.
start_objd() {
	local sock=$1 file=$2 fsync=$3 i=0
	shift 3
	mkdir -p "$(dirname "$file")"
	"${server_pin[@]}" "$OBJD_BIN" --foreground --file "$file" \
	    --socket "$sock" --fsync "$fsync" "$@" 2>>"$file.log" &
	started_pid=$!
	bench_pids="$bench_pids $started_pid"
	until "$OBJCTL_BIN" --socket "$sock" --timeout 5 ping \
	    >/dev/null 2>&1; do
		kill -0 "$started_pid" 2>/dev/null ||
		    bench_die "objd did not start: $(tail -n 3 "$file.log")"
		[ "$i" -lt 300 ] || bench_die "objd did not answer in 30 s"
		sleep 0.1
		i=$((i + 1))
	done
}

# start_redis SOCKET DIR [ARGS...]: redis-server on a UNIX socket only;
# sets started_pid once it answers PING.
start_redis() {
	local sock=$1 dir=$2 i=0
	shift 2
	mkdir -p "$dir"
	"${server_pin[@]}" redis-server --port 0 --unixsocket "$sock" \
	    --unixsocketperm 700 \
	    --dir "$dir" --logfile "$dir/redis.log" --daemonize no "$@" \
	    >/dev/null 2>&1 &
	started_pid=$!
	bench_pids="$bench_pids $started_pid"
	until [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ]; do
		kill -0 "$started_pid" 2>/dev/null ||
		    bench_die "redis-server did not start:" \
		    "$(tail -n 3 "$dir/redis.log" 2>/dev/null)"
		[ "$i" -lt 600 ] || bench_die "redis did not answer in 60 s"
		sleep 0.05
		i=$((i + 1))
	done
}

# redis_fill SOCKET KEYS SIZE: sets key:000000000000 .. to SIZE bytes of
# x, the keys and values objd-bench -t fill writes.
redis_fill() {
	awk -v n="$2" -v d="$3" 'BEGIN {
		v = sprintf("%*s", d, ""); gsub(/ /, "x", v)
		for (i = 0; i < n; i++) {
			k = sprintf("key:%012d", i)
			printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
			    length(k), k, d, v
		}
	}' | redis-cli -s "$1" --pipe >/dev/null ||
	    bench_die "redis-cli --pipe failed"
}

# The median of the numbers on stdin, one a line.
median() {
	sort -g | awk '{ a[NR] = $1 }
	    END { if (NR == 0) print "nan"
	          else if (NR % 2) print a[(NR + 1) / 2]
	          else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# The second field (rps) of the second line of a --csv output.
csv_rps() {
	awk -F'"' 'NR == 2 { print $4 }'
}

# The CPU time of a process, all its threads, in ns (schedstat).
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null |
	    awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# The resident set of a process in kB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

bench_machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "$(nproc) CPU ($cpu), $(awk '/^MemTotal/ {
	    printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux" \
	    "$(uname -r), $(stat -f -c %T "$bench_tmp");" \
	    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
