#!/bin/bash
# SPDX-License-Identifier: ISC
# example.sh: libobjd as its users get it. make check installed the
# library in a staging folder and built examples/hello.c and follow.c
# against it with pkg-config (Makefile.am); this runs them against a real
# objd,
# and checks that the library exports only its own names.
#
# Needs OBJD_BIN, OBJCTL_BIN, OBJD_EXAMPLE, OBJD_FOLLOW and OBJD_LIBDIR.
set -u

dir=$(mktemp -d /tmp/objd-example.XXXXXX) || exit 99
sock=$dir/objd.sock
objd_pid=""
failures=0

cleanup()
{
	if [ -n "$objd_pid" ]; then
		kill -TERM "$objd_pid" 2>/dev/null
		wait "$objd_pid"
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

# Waits until objd serves n clients, objctl's status call included.
wait_clients()
{
	for _ in $(seq 100); do
		[ "$("$OBJCTL_BIN" --socket "$sock" --json status |
		    awk '/"clients"/ { print $2 }')" = "$1," ] && return
		sleep 0.1
	done
}

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# The library: from the staged install, and nothing but objd_ names.
lib=$OBJD_LIBDIR/libobjd.so
[ -e "$lib" ] || { echo "no $lib: was the staged install made?"; exit 99; }
other=$(nm -D --defined-only "$lib" | awk '$3 !~ /^objd_/ { print $3 }')
[ -z "$other" ] || fail "libobjd exports more than objd_ names:" $other
ldd "$OBJD_EXAMPLE" | grep -q "$lib" ||
    fail "the example does not use the staged library: $(ldd "$OBJD_EXAMPLE")"

# Without objd: objctl's exit code 3 and a reason.
"$OBJD_EXAMPLE" "$sock" >"$dir/out" 2>"$dir/err"
status=$?
[ "$status" -eq 3 ] || fail "without objd the example exits $status, not 3"
grep -q "cannot reach objd" "$dir/err" || fail "no reason: $(cat "$dir/err")"

"$OBJD_BIN" --foreground --file "$dir/objd.pb" --socket "$sock" \
    2>"$dir/objd.log" &
objd_pid=$!
for _ in $(seq 100); do
	"$OBJCTL_BIN" --socket "$sock" ping >/dev/null 2>&1 && break
	sleep 0.1
done

# With objd, found through $OBJD_SOCKET as objctl finds it.
OBJD_SOCKET=$sock "$OBJD_EXAMPLE" >"$dir/out" 2>"$dir/err" ||
    fail "the example failed: $(cat "$dir/err")"
cat "$dir/out"
for line in "set name and age at revision 1" "age is the int 30" \
    '  "age": 30,' '  "name": "John"' "key age" "key name" \
    "age after del: not found"; do
	grep -qxF -- "$line" "$dir/out" || fail "no line '$line'"
done
got=$("$OBJCTL_BIN" --socket "$sock" get)
[ "$got" = '{
  "name": "John"
}' ] || fail "objctl get shows $got"

# The non-blocking interface in a libevent loop: follow prints the
# current value of age, then the changes to keys under "a" as they come,
# and after three it asks for the revision on the same connection.
"$OBJCTL_BIN" --socket "$sock" set age 30 >/dev/null
OBJD_SOCKET=$sock "$OBJD_FOLLOW" a 3 >"$dir/follow.out" 2>"$dir/follow.err" &
follow_pid=$!
for _ in $(seq 100); do
	grep -q current "$dir/follow.out" 2>/dev/null && break
	sleep 0.1
done
"$OBJCTL_BIN" --socket "$sock" set age 31 name Jo >/dev/null
"$OBJCTL_BIN" --socket "$sock" set alpha '[1]' >/dev/null
"$OBJCTL_BIN" --socket "$sock" del age >/dev/null
wait "$follow_pid" || fail "follow exited $?: $(cat "$dir/follow.err")"
cat "$dir/follow.out"
[ "$(cat "$dir/follow.out")" = '3 current age 30
4 set age 31
5 set alpha [1]
6 delete age
done at revision 6' ] || fail "follow printed: $(cat "$dir/follow.out")"

# A watch that objd's stop ends: follow says so and exits 6.
OBJD_SOCKET=$sock "$OBJD_FOLLOW" >/dev/null 2>"$dir/follow.err" &
follow_pid=$!
wait_clients 2
kill -TERM "$objd_pid"
wait "$objd_pid" || fail "objd exited $?: $(cat "$dir/objd.log")"
objd_pid=""
wait "$follow_pid"
status=$?
[ "$status" -eq 6 ] || fail "follow exited $status after objd stopped"
grep -q "objd stopped" "$dir/follow.err" ||
    fail "follow said: $(cat "$dir/follow.err")"

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
