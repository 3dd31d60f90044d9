#!/bin/bash
# SPDX-License-Identifier: ISC
# readme.sh: the README's commands, as a reader copies them. The quick
# start must work twice in a row (objd already running the second time),
# and the protoc recipe must print the object and not the file's room.
# The commands are taken from the README itself, with the programs built
# here in place of ./server/objd and ./client/objctl and the build step
# left out, on a file and socket of their own ($OBJD_FILE, $OBJD_SOCKET).
#
# Needs OBJD_BIN, OBJCTL_BIN, OBJD_README, PROTOC and OBJD_PROTO; without
# protoc the recipe is not run.
set -u

dir=$(mktemp -d /tmp/objd-readme.XXXXXX) || exit 99
export OBJD_FILE=$dir/objd.pb OBJD_SOCKET=$dir/objd.sock
failures=0

cleanup()
{
	local pid

	pid=$("$OBJCTL_BIN" status 2>/dev/null | awk '$1 == "pid:" { print $2 }')
	if [ -n "$pid" ]; then
		kill -TERM "$pid"
		while kill -0 "$pid" 2>/dev/null; do
			sleep 0.1
		done
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# The indented line of the README that starts with $1.
readme_command()
{
	local line

	line=$(grep -m 1 "^    $1" "$OBJD_README") ||
	    { echo "no command '$1' in $OBJD_README"; exit 99; }
	echo "${line#    }"
}

quick=$(readme_command './bootstrap && ')
quick=${quick#./bootstrap && }
quick=${quick//.\/server\/objd/\"\$OBJD_BIN\"}
quick=${quick//.\/client\/objctl/\"\$OBJCTL_BIN\"}
echo "quick start: $quick"
for run in first second; do
	out=$(bash -c "$quick" 2>&1) || fail "the $run quick start failed: $out"
	[ "$out" = '{
  "name": "John"
}' ] || fail "the $run quick start printed: $out"
done

recipe=$(readme_command 'protoc --decode')
echo "recipe: $recipe"
if [ -z "${PROTOC:-}" ] || [ "$PROTOC" = : ]; then
	echo "no protoc: the recipe is not run"
else
	"$OBJCTL_BIN" set age 30 || fail "objctl set age 30"
	recipe=${recipe/protoc /\"\$PROTOC\" -I\"\$protodir\" }
	recipe=${recipe/proto\/objd.proto/\"\$OBJD_PROTO\"}
	recipe=${recipe/objd.pb/\"\$OBJD_FILE\"}
	protodir=$(dirname "$OBJD_PROTO")
	out=$(PROTOC=$PROTOC protodir=$protodir bash -c "$recipe" 2>&1) ||
	    fail "the recipe failed: $out"
	room=$(stat -c %s "$OBJD_FILE")
	echo "$out"
	echo "(the file: $room bytes; printed: ${#out})"
	for want in 'key: "name"' 'string_value: "John"' 'key: "age"' \
	    'int_value: 30' 'revision: 2'; do
		grep -qF -- "$want" <<<"$out" || fail "the recipe prints no '$want'"
	done
	! grep -q 'padding\|\\000' <<<"$out" || fail "the recipe prints the room"
	[ "${#out}" -lt 1000 ] || fail "the recipe printed ${#out} bytes"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
