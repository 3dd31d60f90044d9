#!/bin/bash
# SPDX-License-Identifier: ISC
# units.sh: the systemd units, checked without a running systemd:
# systemd-analyze verify (every setting known, the programs they run
# there) for the system and the user units, and systemd-analyze security
# for objd.service, whose exposure must be 2.0 or lower, as a service
# that runs as no one in particular, without capabilities, in a sandbox.
# Also that objd.service and objd.socket agree on the socket, its group
# and who objd admits, and that objd links no libsystemd. Skipped (77)
# where systemd-analyze is missing.
#
# Needs OBJD_BIN, OBJD_UNITS (the folder of the built units) and
# OBJD_UNITS_SRC (of the others); make check sets them.
set -u

# objd speaks systemd's protocols itself: libsystemd would bring six
# more libraries into it.
if command -v ldd >/dev/null 2>&1 && ldd "$OBJD_BIN" | grep -q libsystemd
then
	echo "FAIL: objd links libsystemd:"
	ldd "$OBJD_BIN"
	exit 1
fi

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed (Debian: systemd)"
	exit 77
fi

dir=$(mktemp -d /tmp/objd-units.XXXXXX) || exit 99
trap 'rm -rf "$dir"' EXIT
failures=0

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# A unit as installed, but with ExecStart on this build's objd: verify
# checks that the program is there.
stage()
{
	local from=$1 to=$2

	sed -e "s|^ExecStart=[^ ]*/objd |ExecStart=$OBJD_BIN |" "$from" >"$to"
}

mkdir -p "$dir/system" "$dir/user" "$dir/run"
stage "$OBJD_UNITS/objd.service" "$dir/system/objd.service"
stage "$OBJD_UNITS_SRC/objd.socket" "$dir/system/objd.socket"
stage "$OBJD_UNITS/user/objd.service" "$dir/user/objd.service"
stage "$OBJD_UNITS_SRC/user/objd.socket" "$dir/user/objd.socket"

# verify warns of an unknown setting and still exits 0: any output fails.
for scope in system user; do
	flag=""
	[ $scope = user ] && flag=--user
	out=$(XDG_RUNTIME_DIR=$dir/run systemd-analyze $flag verify \
	    --man=no "$dir/$scope/objd.service" "$dir/$scope/objd.socket" 2>&1)
	if [ $? -ne 0 ] || [ -n "$out" ]; then
		fail "systemd-analyze $flag verify, $scope units:"
		echo "$out"
	else
		echo "ok: systemd-analyze $flag verify, $scope units"
	fi
done

# --offline (systemd 252) reads the unit file alone.
if ! systemd-analyze security --help 2>&1 | grep -q -- --offline; then
	echo "SKIP: this systemd-analyze has no security --offline"
	[ $failures -eq 0 ] && exit 77
	exit 1
fi
out=$(systemd-analyze security --offline=true --threshold=20 \
    "$dir/system/objd.service" 2>&1)
rc=$?
echo "$out" | grep -E "^(✗|→)"
if [ $rc -ne 0 ]; then
	fail "objd.service's exposure is above 2.0"
fi
echo "$out" | grep -q "Overall exposure level" ||
	fail "systemd-analyze security said no exposure: $out"

# What the socket's mode lets in is what objd's policy admits: root and
# the group objd.
unit_has()
{
	grep -q -E -- "$2" "$1" || fail "$(basename "$1"): no $2"
}
service=$OBJD_UNITS/objd.service
socket=$OBJD_UNITS_SRC/objd.socket
unit_has "$service" '^DynamicUser=yes$'
unit_has "$service" '^User=objd$'
unit_has "$service" '^ExecStart=.* --socket /run/objd/objd\.sock( |$)'
unit_has "$service" '^ExecStart=.* --allow-rw @objd( |$)'
unit_has "$service" '^ExecStart=.* --file /var/lib/objd/objd\.pb( |$)'
unit_has "$service" '^ExecStart=.* --config /[^ ]*/objd/objd\.conf( |$)'
unit_has "$service" '^StateDirectory=objd$'
# With DynamicUser, systemd keeps a preserved RuntimeDirectory in
# /run/private (0700: no one else reaches the socket) and removes any
# other when objd stops: the socket unit holds /run/objd.
unit_has "$service" '^Requires=objd\.socket$'
if grep -q '^RuntimeDirectory=' "$service"; then
	fail "objd.service: a RuntimeDirectory= under DynamicUser= hides or removes the socket"
fi
unit_has "$socket" '^ListenStream=/run/objd/objd\.sock$'
unit_has "$socket" '^SocketMode=0660$'
unit_has "$socket" '^SocketGroup=objd$'
unit_has "$OBJD_UNITS_SRC/sysusers.d/objd.conf" '^u objd '
if grep -q '^PrivateUsers=yes' "$service"; then
	fail "PrivateUsers=yes: objd would see its clients as nobody"
fi
unit_has "$OBJD_UNITS_SRC/user/objd.socket" '^ListenStream=%t/objd\.sock$'

[ $failures -eq 0 ] || exit 1
echo "all unit checks passed"
