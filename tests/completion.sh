#!/bin/bash
# SPDX-License-Identifier: ISC
# completion.sh: objctl's bash completion (completion/objctl), driven as
# bash drives it, against a real objd in a temporary folder.
#
# Needs OBJD_BIN, OBJCTL_BIN and OBJD_COMPLETION (make check sets them).
set -u

dir=$(mktemp -d /tmp/objd-compl.XXXXXX) || exit 99
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

"$OBJD_BIN" --foreground --file "$dir/objd.pb" --socket "$sock" \
    2>"$dir/objd.log" &
objd_pid=$!
for _ in $(seq 100); do
	"$OBJCTL_BIN" --socket "$sock" ping >/dev/null 2>&1 && break
	sleep 0.1
done
"$OBJCTL_BIN" --socket "$sock" set name John nick Jo port 8080 \
    a:b 1 "my key" 2 'dot\.ted' 3 'back\\slash' 4 "$(printf 'two\nlines')" 5 ||
    { cat "$dir/objd.log"; exit 99; }

# shellcheck source=/dev/null
. "$OBJD_COMPLETION"
[ "$(complete -p objctl)" = "complete -F _objctl objctl" ] || {
	echo "FAIL: completion/objctl registers: $(complete -p objctl)"
	exit 1
}

# complete LINE WORD...: completes LINE, which bash splits into the
# WORDs (the last is the word being completed); got is the offers, sorted
# and joined by spaces.
complete_line()
{
	local line=$1
	shift
	COMP_WORDS=("$OBJCTL_BIN" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$OBJCTL_BIN $line"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_objctl
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	got=${got% }
}

# expect WANT LINE WORD...: the offers are exactly WANT.
expect()
{
	local want=$1
	shift
	complete_line "$@"
	if [ "$got" = "$want" ]; then
		echo "ok: objctl $1 -> $want"
	else
		echo "FAIL: objctl $1"
		echo "   want: $want"
		echo "    got: $got"
		failures=$((failures + 1))
	fi
}

# expect_some "HAS..." "LACKS..." LINE WORD...: the offers include every
# word of HAS and none of LACKS.
expect_some()
{
	local has=$1 lacks=$2 w
	shift 2
	complete_line "$@"
	for w in $has; do
		[[ " $got " == *" $w "* ]] && continue
		echo "FAIL: objctl $1 does not offer $w: $got"
		failures=$((failures + 1))
	done
	for w in $lacks; do
		[[ " $got " == *" $w "* ]] || continue
		echo "FAIL: objctl $1 offers $w: $got"
		failures=$((failures + 1))
	done
	echo "ok: objctl $1 -> $got"
}

export OBJD_SOCKET=$sock

# Commands and options, from objctl --help: every command it lists and
# nothing else; global options before the command, a command's own after
# it.
cmds=$("$OBJCTL_BIN" --help | sed -n '/^commands:/,/^$/s/^  \([a-z]*\).*/\1/p' |
    sort | tr '\n' ' ')
expect "${cmds% }" "" ""
expect_some "get set del list status reload ping" "" "" ""
expect "set status" "s" "s"
expect_some "--socket --json --timeout --help --version" "--string" \
    "--" "--"
expect_some "--string --socket --json --timeout" "" "set --" set "--"
expect_some "--socket --json" "--string" "get --" get "--"
expect_some "-s -h --string" "" "set -" set "-"
expect_some "-s -h" "--string" "-" "-"
# Options anywhere after the command, until "--".
expect_some "--string --if-absent --json" "" "set name John --" \
    set name John "--"
expect "" "set -- -" set -- "-"
expect "" "set k -- --" set k -- "--"
expect "" "--timeout " --timeout ""
expect "$sock" "--socket $sock" --socket "$sock"
expect "$sock" "-s $sock" -s "$sock"
expect "$sock" "--socket=$sock" --socket = "$sock"
expect "get" "--json ge" --json ge

# Keys, from objd, where the command's template has a KEY or PREFIX.
expect 'a:b back\\\\slash dot\\.ted my\ key name nick port two\\nlines' \
    "get " get ""
# Keys come as objctl reads them (dot\.ted), quoted for the shell.
expect 'dot\\.ted' "get do" get do
expect 'dot\\.ted' 'get dot\\.' get 'dot\\.'
expect 'back\\\\slash' 'get back\\' get 'back\\'
expect 'two\\nlines' "get tw" get tw
expect "name nick" "get n" get n
expect "name" "get na" get na
expect "port" "--json get po" --json get po
expect "name nick" "del port n" del port n
expect "port" "list p" list p
expect "" "get name " get name ""
expect "" "set name " set name ""
expect "name nick" "set name John n" set name John n
expect "name nick" "set --string n" set --string n
expect "name nick" "set name John --if-absent n" set name John --if-absent n
expect "name nick" "set --if-revision 3 n" set --if-revision 3 n
expect "" "set name --string " set name --string ""
expect "name nick" "set -- -x 1 n" set -- -x 1 n
expect "" "status " status ""
expect "b" "get a:" get a ":"
expect "b" "get a:b" get a ":" b
expect "my\\ key" "get my" get my
expect "name nick" "set a:b 1 n" set a ":" b 1 n
expect "" "set a:b " set a ":" b ""
expect "" "set -- -5 " set -- -5 ""
if "$OBJCTL_BIN" --help | grep -q "^  watch .*PREFIX"; then
	expect "name nick" "watch n" watch n
fi
# A FILE is a file.
if "$OBJCTL_BIN" --help | grep -q "^  load .*FILE"; then
	expect "$dir/objd.log" "load $dir/objd.l" load "$dir/objd.l"
fi

# --socket on the line is used; no objd there offers nothing, at once.
unset OBJD_SOCKET
expect "name" "--socket $sock get na" --socket "$sock" get na
expect "name" "--socket=$sock get na" --socket = "$sock" get na
expect "name" "-s $sock get na" -s "$sock" get na
expect "name" "get -s $sock na" get -s "$sock" na
start=$SECONDS
expect "" "--socket $dir/none get na" --socket "$dir/none" get na
[ $((SECONDS - start)) -le 3 ] || {
	echo "FAIL: completing without objd took $((SECONDS - start)) s"
	failures=$((failures + 1))
}

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
