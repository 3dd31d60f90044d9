#!/bin/bash
# SPDX-License-Identifier: ISC
# boot-units.sh: the units under a real systemd, where none runs (a
# container, CI). It boots /lib/systemd/systemd as PID 1 of new pid,
# mount, cgroup and uts namespaces, on a throw-away overlay of / with
# objd installed (make install DESTDIR), and checks there what
# tests/units.sh can only read: objd runs as the user objd, root and a
# member of the group objd may use it and no one else, the journal gets
# priorities, reload, restart and stop keep the socket, the exposure is
# 2.0 or lower, and a user's units serve at $XDG_RUNTIME_DIR/objd.sock.
#
# Not part of make check (it needs root, overlayfs and a writable
# cgroup2): run `make check-boot`. Exit 77 when it cannot boot systemd.
set -u

stage=${OBJD_STAGE:?OBJD_STAGE: a make install DESTDIR of objd}
prefix=${OBJD_PREFIX:-/usr/local}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root"
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd"
command -v unshare >/dev/null && command -v nsenter >/dev/null ||
	skip "needs unshare and nsenter"
cgroot=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
[ -n "$cgroot" ] || skip "no cgroup2 mounted"

dir=$(mktemp -d /tmp/objd-boot.XXXXXX) || exit 99
cgroup=$cgroot/objd-boot.${dir##*.}
mkdir "$cgroup" || skip "cannot make a cgroup in $cgroot"
pid=""
failures=0

cleanup()
{
	if [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	# systemd made cgroups below; they empty as its processes go.
	for _ in $(seq 50); do
		find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cgroup" ] || break
		sleep 0.1
	done
	rm -rf "$dir"
}
trap cleanup EXIT

# PID 1 of the namespaces: an overlay of / with objd in it, then systemd
# with no getty and nothing of the host's own enabled.
cat >"$dir/init.sh" <<EOF
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs "$dir/mnt"
mkdir "$dir/mnt/upper" "$dir/mnt/work" "$dir/mnt/root"
mount -t overlay overlay -o lowerdir=/,upperdir=$dir/mnt/upper,workdir=$dir/mnt/work "$dir/mnt/root"
R=$dir/mnt/root
cp -a "$stage/." "\$R/"
mount -t proc proc "\$R/proc"
mount -t sysfs sysfs "\$R/sys"
mount -t cgroup2 cgroup2 "\$R/sys/fs/cgroup"
mount --rbind /dev "\$R/dev"
mount -t tmpfs tmpfs "\$R/run"
mount -t tmpfs tmpfs "\$R/tmp"
rm -rf "\$R"/etc/systemd/system/*.wants
echo objd-boot >"\$R/etc/hostname"
export container=objd-boot
cd "\$R"
exec chroot . /lib/systemd/systemd --system --unit=multi-user.target \
    --show-status=no
EOF
mkdir "$dir/mnt"
sh -c "echo \$\$ >'$cgroup/cgroup.procs' &&
    exec unshare --pid --fork --mount --cgroup --uts bash '$dir/init.sh'" \
    >"$dir/boot.log" 2>&1 &
unshare_pid=$!

# systemd is the child of unshare.
for _ in $(seq 100); do
	pid=$(pgrep -P "$unshare_pid" 2>/dev/null | head -n 1)
	[ -n "$pid" ] && break
	sleep 0.1
done
[ -n "$pid" ] || { cat "$dir/boot.log"; skip "systemd did not start"; }
inside() { nsenter --target "$pid" --mount --pid --uts --cgroup --root \
    --wd=/ "$@"; }
state=""
for _ in $(seq 300); do
	state=$(inside systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 0.1
done
case $state in
running | degraded) ;;
*) cat "$dir/boot.log"; skip "systemd did not come up ($state)" ;;
esac
echo "systemd is $state in the namespaces (pid $pid)"

check()
{
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		failures=$((failures + 1))
	fi
}
objctl=$prefix/bin/objctl
as() { local u=$1; shift; inside runuser -u "$u" -- "$@"; }

# The checks that take more than one command.
socket_outlives_stop()
{
	inside systemctl stop objd.service &&
	    inside test -S /run/objd/objd.sock
}
journal_has_priorities()
{
	inside journalctl -u objd -o export |
	    grep -a -A30 '^MESSAGE=serving ' | grep -q '^PRIORITY=6$' &&
	    ! inside journalctl -u objd -o cat | grep -q '^objd: '
}
other_is_refused()
{
	as bob env OBJD_SOCKET=/run/objd/objd.sock "$objctl" get \
	    >/dev/null 2>&1
	[ $? -eq 3 ]
}

inside systemd-sysusers
inside useradd -m -G objd alice
inside useradd -m bob
inside systemctl daemon-reload
check "objd.service starts (and objd.socket with it)" \
    inside systemctl start objd.service
check "objd runs as the user objd" \
    test "$(inside ps -o user= -C objd)" = objd
check "the socket is root's, mode 0660, group objd" \
    test "$(inside stat -c '%U %G %a' /run/objd/objd.sock)" = \
    "root objd 660"
check "root may write" inside "$objctl" set name John
check "a member of objd may write" \
    as alice env OBJD_SOCKET=/run/objd/objd.sock "$objctl" set city Paris
check "another user cannot connect" other_is_refused
check "systemctl reload" inside systemctl reload objd
check "systemctl restart" inside systemctl restart objd
check "the object outlives the restart" \
    test "$(inside "$objctl" get city)" = Paris
check "systemctl stop leaves the socket to objd.socket" \
    socket_outlives_stop
check "a client starts objd again" \
    test "$(inside "$objctl" get name)" = John
check "the journal has objd's lines at info, without its name" \
    journal_has_priorities
exposure()
{
	inside systemd-analyze security --threshold=20 objd.service \
	    >"$dir/security.log" 2>&1
	local rc=$?
	tail -n 1 "$dir/security.log"
	return $rc
}
check "the exposure is 2.0 or lower" exposure

uid=$(inside id -u alice)
inside systemctl start "user@$uid.service"
check "a user's objd.socket" \
    as alice env XDG_RUNTIME_DIR=/run/user/$uid systemctl --user start \
    objd.socket
check "a user's objctl reaches it at \$XDG_RUNTIME_DIR/objd.sock" \
    as alice env XDG_RUNTIME_DIR=/run/user/$uid "$objctl" set pet cat
check "a user's objd is the user's own" \
    test "$(inside ps -o user= -C objd | sort | tr '\n' ' ')" = \
    "alice objd "

[ $failures -eq 0 ] || { echo "$failures failed"; exit 1; }
echo "all boot checks passed"
