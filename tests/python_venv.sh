#!/bin/sh
# SPDX-License-Identifier: ISC
# python_venv.sh: client/python installs into a virtualenv with pip, at
# objd's version, and the module it installs talks to a real objd.
#
# The virtualenv sees the system's packages (python3-protobuf), and pip
# builds offline with the virtualenv's setuptools: the test needs no
# package index. Exits 77 (skipped) without the venv module or
# google.protobuf.
set -eu

python=${PYTHON:-python3}
ok=$("$python" -c 'import venv, google.protobuf; print("ok")' 2>/dev/null) ||
    ok=
[ "$ok" = ok ] || {
	echo "python_venv: no venv module or google.protobuf: skipped"
	exit 77
}
src=$(cd "$(dirname "$0")/../client/python" && pwd)
pb2=${OBJD_PB2:?OBJD_PB2 names the generated objd_pb2.py}
dir=$(mktemp -d /tmp/objd-venv.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

# A copy of the package with its generated module, as `make` leaves it
# in an in-tree build.
cp -r "$src" "$dir/pkg"
cp "$pb2" "$dir/pkg/objd/"
"$python" -m venv --system-site-packages "$dir/venv"
"$dir/venv/bin/pip" install --quiet --no-index --no-build-isolation \
    "$dir/pkg" >"$dir/pip.log" 2>&1 || {
	cat "$dir/pip.log"
	exit 1
}

want=$("$OBJD_BIN" --version | awk '{ print $NF }')
got=$(env -u PYTHONPATH "$dir/venv/bin/python" -c \
    'import importlib.metadata as m; print(m.version("objd"))')
[ "$got" = "$want" ] || {
	echo "python_venv: the package is version $got, objd $want"
	exit 1
}

"$OBJD_BIN" --foreground --file "$dir/objd.pb" --socket "$dir/objd.sock" \
    >"$dir/objd.log" 2>&1 &
pid=$!
cd "$dir"
env -u PYTHONPATH "$dir/venv/bin/python" - "$dir/objd.sock" <<'PY'
import sys, time
import objd
assert "/venv/" in objd.__file__, objd.__file__
for _ in range(200):
    try:
        c = objd.connect(sys.argv[1])
        break
    except objd.Unreachable:
        time.sleep(0.05)
c.set(name="John", age=30)
assert c.get() == {"name": "John", "age": 30}, c.get()
PY
echo "python_venv: installed with pip into a virtualenv, and it works"
