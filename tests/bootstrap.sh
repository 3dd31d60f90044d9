#!/bin/bash
# SPDX-License-Identifier: ISC
# bootstrap.sh: ./bootstrap's choices, on a copy of it beside stand-ins
# for the programs it runs (dpkg-query, id, sudo, apt-get, autoreconf,
# configure, make), each of which notes how it was called:
#   - a user without sudo and with packages missing is told the apt-get
#     line to run as root, and nothing is built;
#   - a user with sudo installs through it; root without it;
#   - configure gets --enable-werror only from CONFIGURE_FLAGS.
#
# Needs OBJD_BOOTSTRAP (the script).
set -u

dir=$(mktemp -d /tmp/objd-bootstrap.XXXXXX) || exit 99
trap 'rm -rf "$dir"' EXIT
failures=0

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# A stand-in that notes "name args" in calls and exits with status.
stand_in()
{
	local name=$1 status=$2

	printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n%s\nexit %s\n' \
	    "$name" "$dir" "${3:-}" "$status" >"$dir/bin/$name"
	chmod +x "$dir/bin/$name"
}

# A fresh tree: the script, the stand-ins, and the few real programs it
# needs; with sudo when $2 is "sudo". uid is what id -u says, installed
# what dpkg-query says of every package (yes or no).
setup()
{
	local uid=$1 with_sudo=$2 installed=$3 status='deinstall ok config-files'

	rm -rf "$dir/tree" "$dir/bin" "$dir/calls"
	mkdir -p "$dir/tree" "$dir/bin"
	cp "$OBJD_BOOTSTRAP" "$dir/tree/bootstrap"
	for prog in sh grep dirname cat; do
		ln -s "$(command -v "$prog")" "$dir/bin/$prog"
	done
	[ "$installed" = yes ] && status='install ok installed'
	stand_in dpkg-query 0 "printf '%s' '$status'"
	stand_in id 0 "echo $uid"
	stand_in nproc 0 "echo 2"
	stand_in apt-get 0
	stand_in autoreconf 0
	stand_in make 0
	# configure as autoreconf would have made it.
	printf '#!/bin/sh\necho "configure $*" >>"%s/calls"\n' "$dir" \
	    >"$dir/tree/configure"
	chmod +x "$dir/tree/configure"
	[ "$with_sudo" = sudo ] && stand_in sudo 0 'exec "$@"'
	: >"$dir/calls"
}

run()
{
	(cd "$dir/tree" && env PATH="$dir/bin" "$@" sh ./bootstrap) \
	    >"$dir/out" 2>&1
}

# A user without sudo, packages missing: the line to run as root, exit 1,
# nothing run.
setup 1000 no-sudo no
run
status=$?
[ "$status" -ne 0 ] || fail "without sudo, bootstrap exits 0"
grep -q '^  apt-get update && apt-get install --no-install-recommends build-essential .* python3-protobuf python3-venv$' "$dir/out" ||
    fail "no apt-get line to run as root: $(cat "$dir/out")"
grep -q "sudo: not found" "$dir/out" && fail "bootstrap ran sudo"
[ -s "$dir/calls" ] && grep -qv '^dpkg-query\|^id' "$dir/calls" &&
    fail "bootstrap ran more than checks: $(cat "$dir/calls")"

# A user with sudo: apt-get through sudo, then the build.
setup 1000 sudo no
run || fail "with sudo, bootstrap failed: $(cat "$dir/out")"
grep -q '^sudo apt-get install' "$dir/calls" ||
    fail "no sudo apt-get install: $(cat "$dir/calls")"

# Root: apt-get itself.
setup 0 no-sudo no
run || fail "as root, bootstrap failed: $(cat "$dir/out")"
grep -q '^apt-get install' "$dir/calls" ||
    fail "root ran no apt-get install: $(cat "$dir/calls")"

# Everything installed: no apt-get; configure without --enable-werror,
# unless asked.
setup 1000 no-sudo yes
run || fail "bootstrap failed: $(cat "$dir/out")"
grep -q 'apt-get' "$dir/calls" && fail "apt-get ran: $(cat "$dir/calls")"
grep -qx 'configure ' "$dir/calls" ||
    fail "configure was not run bare: $(cat "$dir/calls")"
setup 1000 no-sudo yes
run CONFIGURE_FLAGS=--enable-werror ||
    fail "bootstrap failed: $(cat "$dir/out")"
grep -qx 'configure --enable-werror' "$dir/calls" ||
    fail "CONFIGURE_FLAGS did not reach configure: $(cat "$dir/calls")"

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
