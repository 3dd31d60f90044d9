#!/bin/bash
# SPDX-License-Identifier: ISC
# example.sh: libobjd as its users get it. make check installed the
# library in a staging folder and built examples/hello.c against it with
# pkg-config (Makefile.am); this runs the example against a real objd,
# and checks that the library exports only its own names.
#
# Needs OBJD_BIN, OBJCTL_BIN, OBJD_EXAMPLE and OBJD_LIBDIR.
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

kill -TERM "$objd_pid"
wait "$objd_pid" || fail "objd exited $?: $(cat "$dir/objd.log")"
objd_pid=""

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
