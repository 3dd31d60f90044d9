#!/bin/bash
# SPDX-License-Identifier: ISC
# libobjd-man.sh: man/libobjd.3 against client/objd-client.h. The page's
# SYNOPSIS must declare what the header declares, no more and no less:
# every public function and type by name, and each declaration as the
# header spells it (comments, line breaks and spacing aside). The rest of
# the page, and the header's comments, may name no objd_ function or type
# that does not exist. The page renders without a warning from man, and
# the program of EXAMPLES compiles against the staged libobjd (as
# examples/hello.c does) and does what the page says against a real objd.
#
# Needs OBJD_SRCDIR, OBJD_BIN, OBJCTL_BIN, OBJD_LIBDIR (the staged
# library), OBJD_STAGE, OBJD_PKGCONFIGDIR, OBJD_PKG_CONFIG and OBJD_CC;
# make check sets them. OBJD_MAN_PAGE and OBJD_MAN_HEADER, when set in
# the environment, name another page or header to check instead: a way to
# see the test fail.
set -u

page=${OBJD_MAN_PAGE:-$OBJD_SRCDIR/man/libobjd.3}
header=${OBJD_MAN_HEADER:-$OBJD_SRCDIR/client/objd-client.h}
dir=$(mktemp -d /tmp/objd-libobjd-man.XXXXXX) || exit 99
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

# The declarations of the header (mode header) or of the page's SYNOPSIS
# (mode page), one a line, as C text with comments and preprocessor lines
# left out and the spacing made one: a declaration ends at a semicolon
# outside braces, so a struct or an enum is one. In the page, the
# arguments of .B, .BI and the other font macros are joined as groff
# joins them, and \- is a minus.
declarations()
{
	perl -e '
	use strict;
	use warnings;
	my ($mode, $file) = @ARGV;
	open(my $in, "<", $file) or die "$file: $!\n";
	local $/;
	my $text = <$in>;
	if ($mode eq "page") {
		$text =~ /^\.SH SYNOPSIS\n(.*?)^\.SH /ms
		    or die "$file: no SYNOPSIS section\n";
		my $c = "";
		for my $line (split /\n/, $1) {
			next if $line =~ /^\.(SS|nf|fi|PP|P|br|sp)\b/;
			if ($line =~ s/^\.(BI|IB|BR|RB|IR|RI|B|I)(?:\s+|$)//) {
				# .B and .I join their arguments with spaces,
				# the macros of two fonts without.
				my $sep = length($1) == 1 ? " " : "";
				my @args;
				while ($line =~ /\G\s*("((?:[^"]|"")*)"|(\S+))/g) {
					my $arg = defined $2 ? $2 : $3;
					$arg =~ s/""/"/g;
					push @args, $arg;
				}
				$line = join($sep, @args);
			} elsif ($line =~ /^[.\x27]/) {
				die "$file: SYNOPSIS: unexpected request: $line\n";
			}
			$line =~ s/\\-/-/g;
			$line =~ s/\\f[BIRP]//g;
			die "$file: SYNOPSIS: an escape this test does not know: $line\n"
			    if $line =~ /\\/;
			$c .= "$line\n";
		}
		$text = $c;
	} else {
		$text =~ s/^#ifdef __cplusplus\n.*?^#endif\n//gms;
	}
	$text =~ s{/\*.*?\*/}{ }gs;
	$text =~ s/^\s*#.*$//gm;
	my ($depth, $decl) = (0, "");
	for my $ch (split //, $text) {
		$decl .= $ch;
		$depth++ if $ch eq "{";
		$depth-- if $ch eq "}";
		next unless $ch eq ";" && $depth == 0;
		$decl =~ s/\s+/ /g;
		$decl =~ s/^ | $//g;
		$decl =~ s/ ?([(),;{}\[\]]) ?/$1/g;
		$decl =~ s/ ?\* ?/ */g;
		print "$decl\n";
		$decl = "";
	}
	$decl =~ s/\s+//g;
	die "$file: text after the last declaration: $decl\n" if $decl ne "";
	' "$1" "$2"
}

# The objd_ names and OBJD_ constants in declarations on standard input.
names()
{
	grep -o -E '\<(objd_[a-z0-9_]+|OBJD_[A-Z0-9_]+)\>' | sort -u
}

declarations header "$header" >"$dir/header.decl" ||
    { echo "cannot read the declarations of $header"; exit 99; }
declarations page "$page" >"$dir/page.decl" ||
    { echo "cannot read the SYNOPSIS of $page"; exit 99; }
names <"$dir/header.decl" >"$dir/header.names"
names <"$dir/page.decl" >"$dir/page.names"
# A header this test misreads would make every comparison vacuous.
for name in objd_connect objd_client objd_cond objd_async_cb OBJD_OK; do
	grep -qx "$name" "$dir/header.names" ||
	    { echo "found no $name in $header: is the pattern wrong?"; exit 99; }
done
echo "$(wc -l <"$dir/header.names") names and" \
    "$(wc -l <"$dir/header.decl") declarations in $header"

for name in $(comm -23 "$dir/header.names" "$dir/page.names"); do
	fail "$name is in $(basename "$header") but not in the SYNOPSIS"
done
for name in $(comm -13 "$dir/header.names" "$dir/page.names"); do
	fail "the SYNOPSIS names $name, which $(basename "$header") does not declare"
done
# Names that both have, declared otherwise (a parameter's type or name,
# a member): the header's form and the page's.
while IFS= read -r decl; do
	grep -qxF -- "$decl" "$dir/page.decl" ||
	    fail "the SYNOPSIS lacks, as the header has it: $decl"
done <"$dir/header.decl"
while IFS= read -r decl; do
	grep -qxF -- "$decl" "$dir/header.decl" ||
	    fail "the header lacks, as the SYNOPSIS has it: $decl"
done <"$dir/page.decl"

# Anywhere in the page, and in the header's comments: an objd_ name is
# one of the header's declarations, or the start of some (objd_async_*);
# objd__ names are protobuf-c's.
for file in "$page" "$header"; do
	for name in $(sed -e 's/\\-/-/g' "$file" |
	    grep -o -E '\<objd_[a-z0-9][a-z0-9_]*' | sort -u); do
		case $name in
		*_) grep -q "^$name" "$dir/header.names" ;;
		*) grep -qx "$name" "$dir/header.names" ;;
		esac || fail "$(basename "$file") names $name, which" \
		    "$(basename "$header") does not declare"
	done
done

if command -v man >/dev/null 2>&1; then
	warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 \
	    >/dev/null)
	[ -z "$warnings" ] || fail "man warns of $page: $warnings"
else
	echo "SKIP: no man to render the page with"
fi

# The program of EXAMPLES: the block of .EX that holds main(), with the
# escapes the page uses turned back into C.
perl -e '
use strict;
use warnings;
local $/;
my $text = <STDIN>;
$text =~ /^\.SH EXAMPLES\n(.*?)^\.SH /ms or die "no EXAMPLES section\n";
for my $block ($1 =~ /^\.EX\n(.*?)^\.EE\n/gms) {
	next unless $block =~ /^main\(/m;
	die "an escape this test does not know: $1\n"
	    if $block =~ /(\\(?!-|e|\(aq|\(dq|&).{0,4})/;
	$block =~ s/\\-/-/g;
	$block =~ s/\\\(aq/\x27/g;
	$block =~ s/\\\(dq/"/g;
	$block =~ s/\\&//g;
	$block =~ s/\\e/\\/g;
	print $block;
	exit 0;
}
die "no program with main() in EXAMPLES\n";
' <"$page" >"$dir/count.c" || exit 1

lib=$OBJD_LIBDIR/libobjd.so
[ -e "$lib" ] || { echo "no $lib: was the staged install made?"; exit 99; }
flags=$(PKG_CONFIG_PATH=$OBJD_STAGE$OBJD_PKGCONFIGDIR \
    PKG_CONFIG_SYSROOT_DIR=$OBJD_STAGE $OBJD_PKG_CONFIG --cflags --libs \
    libobjd) || { echo "pkg-config does not find the staged libobjd"; exit 99; }
# shellcheck disable=SC2086 # the compiler and its flags are words
if ! $OBJD_CC -o "$dir/count" "$dir/count.c" $flags \
    -Wl,-rpath,"$OBJD_LIBDIR" >"$dir/cc.log" 2>&1; then
	cat -n "$dir/count.c"
	cat "$dir/cc.log"
	fail "the program of EXAMPLES does not compile"
	exit 1
fi
[ -s "$dir/cc.log" ] && { cat "$dir/cc.log"; fail "the compiler warns"; }
echo "ok: the program of EXAMPLES compiles with $OBJD_CC"

sock=$dir/objd.sock
export OBJD_SOCKET=$sock
"$dir/count" >"$dir/out" 2>"$dir/err"
status=$?
[ $status -eq 3 ] || fail "without objd the example exits $status, not 3"

"$OBJD_BIN" --foreground --file "$dir/objd.pb" --socket "$sock" \
    2>"$dir/objd.log" &
objd_pid=$!
for _ in $(seq 100); do
	"$OBJCTL_BIN" ping >/dev/null 2>&1 && break
	sleep 0.1
done

# As EXAMPLES shows it, then a second time: one more, one revision on.
"$dir/count" visits >"$dir/out" 2>"$dir/err" ||
    fail "the example failed: $(cat "$dir/err")"
[ "$(cat "$dir/out")" = "visits = 1 at revision 1" ] ||
    fail "the example printed: $(cat "$dir/out")"
grep -q -F "visits = 1 at revision 1" "$page" ||
    fail "the page does not show what the example prints"
"$dir/count" visits >"$dir/out" 2>"$dir/err" ||
    fail "the example failed again: $(cat "$dir/err")"
[ "$(cat "$dir/out")" = "visits = 2 at revision 2" ] ||
    fail "the second run printed: $(cat "$dir/out")"
[ "$("$OBJCTL_BIN" get visits)" = 2 ] ||
    fail "objctl get visits gives $("$OBJCTL_BIN" get visits)"
"$OBJCTL_BIN" set name John >/dev/null
"$dir/count" name >"$dir/out" 2>"$dir/err"
status=$?
[ $status -eq 2 ] || fail "a string to count: exit $status, not 2"
grep -q "name: not a counter (string)" "$dir/err" ||
    fail "a string to count: $(cat "$dir/err")"
echo "ok: the program of EXAMPLES counts, and refuses a string"

if [ $failures -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
