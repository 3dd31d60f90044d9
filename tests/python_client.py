# SPDX-License-Identifier: ISC
"""python_client.py: the Python client (client/python/objd) against a
real objd, and the object file shared between Python, objd and objctl.

make check runs it with the Python that has google.protobuf, PYTHONPATH
set to the client, and OBJD_BIN, OBJCTL_BIN (and PROTOC, OBJD_PROTO) in
the environment. It exits 77 (skipped) only when google.protobuf is
missing.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

try:
    import google.protobuf  # noqa: F401
except ImportError:
    print("google.protobuf is missing: install python3-protobuf")
    sys.exit(77)

import objd  # noqa: E402

OBJD = os.environ.get("OBJD_BIN", "objd")
OBJCTL = os.environ.get("OBJCTL_BIN", "objctl")
DEADLINE = 10.0


def eventually(check, what):
    """Polls check() until it is true, for at most DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def from_json(x):
    """objctl's JSON as the Python values it stands for."""
    if isinstance(x, dict):
        if list(x) == ["$bytes"]:
            return base64.b64decode(x["$bytes"])
        if list(x) == ["$double"]:
            return float(x["$double"])
        return {k: from_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [from_json(v) for v in x]
    return x


def same(a, b):
    """Equal, types included: 30 is not 30.0, True is not 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


# Every type, nested, with the int/double distinction that JSON loses in
# most languages.
SAMPLE = {
    "name": "John",
    "age": 30,
    "height": 30.0,
    "ratio": -2.5,
    "big": -(1 << 63),
    "ok": True,
    "nothing": None,
    "raw": b"\x00\x01\xfe",
    "tags": ["a", 1, 2.0, False, None, [b"x"]],
    "server": {"port": 8080, "tls": {"on": False}, "hosts": []},
    "empty": {},
    "unicode": "caf\u00e9 \U0001f600",
}


class ObjdTest(unittest.TestCase):
    """Each test has a folder and, once started, an objd of its own."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="objd-py.", dir="/tmp")
        self.file = os.path.join(self.dir, "objd.pb")
        self.sock = os.path.join(self.dir, "objd.sock")
        self.log = open(os.path.join(self.dir, "objd.log"), "w+")
        self.proc = None
        self.env = dict(os.environ, OBJD_SOCKET=self.sock)

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *extra):
        self.proc = subprocess.Popen(
            [OBJD, "--foreground", "--file", self.file, "--socket",
             self.sock, "--reload-interval", "0.1", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError("objd exited: " + self.objd_log())
            try:
                objd.connect(self.sock).ping()
                return True
            except objd.Unreachable:
                return False
        eventually(answers, "objd to answer")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(DEADLINE), 0, self.objd_log())
        self.assertFalse(os.path.exists(self.sock))
        self.proc = None

    def objd_log(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def objctl(self, *args, want=0):
        r = subprocess.run([OBJCTL, *args], env=self.env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, want,
                         "objctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def objctl_get(self):
        return from_json(json.loads(self.objctl("get")))


class TestClient(ObjdTest):

    def setUp(self):
        super().setUp()
        self.start()
        self.c = objd.connect(self.sock)

    def tearDown(self):
        self.c.close()
        super().tearDown()

    def test_the_issue_example(self):
        os.environ["OBJD_SOCKET"] = self.sock
        try:
            c = objd.connect()
        finally:
            del os.environ["OBJD_SOCKET"]
        c.set("name", "John")
        self.assertEqual(c.get(), {"name": "John"})
        c.close()

    def test_every_type_round_trips(self):
        self.c.set(SAMPLE)
        got = self.c.get()
        self.assertTrue(same(got, SAMPLE), got)
        for key, want in SAMPLE.items():
            self.assertTrue(same(self.c.get(key), want), key)
        self.assertIs(type(self.c.get("age")), int)
        self.assertIs(type(self.c.get("height")), float)

    def test_set_forms(self):
        r1 = self.c.set("a", 1)
        r2 = self.c.set({"b": 2, "c": 3})
        r3 = self.c.set(d=4, e=[5])
        self.assertEqual(r2, r1 + 1)
        self.assertEqual(r3, r2 + 1)
        self.assertEqual(self.c.revision, r3)
        self.assertEqual(self.c.get(),
                         {"a": 1, "b": 2, "c": 3, "d": 4, "e": [5]})
        # A set that changes nothing commits nothing.
        self.assertEqual(self.c.set("a", 1), r3)
        self.assertRaises(TypeError, self.c.set, "a", 1, 2)
        self.assertRaises(objd.Invalid, self.c.set)

    def test_key_paths(self):
        self.c.set("server.port", 8080)
        self.c.set(objd.key_path("a.b"), 1)
        self.c.set(objd.key_path("server", "tls"), False)
        self.assertEqual(self.c.get(), {
            "a.b": 1, "server": {"port": 8080, "tls": False}})
        self.assertEqual(self.c.get("server.port"), 8080)
        self.assertEqual(self.c.get(objd.key_path("a.b")), 1)
        self.assertEqual(self.c.list(), ["a.b", "server"])
        self.assertEqual(objd.key_path("x\\y", "z"), "x\\\\y.z")

    def test_objctl_sees_what_python_set(self):
        self.c.set(SAMPLE)
        self.assertTrue(same(self.objctl_get(), SAMPLE))
        self.assertEqual(self.objctl("get", "name"), "John\n")
        self.assertEqual(self.objctl("get", "height"), "30.0\n")

    def test_python_sees_what_objctl_set(self):
        self.objctl("set", "age", "30", "height", "30.0", "zip", "01234",
                    "tags", '["x", 2]', "off", "false", "none", "null")
        self.objctl("set", "--string", "code", "30")
        self.assertTrue(same(self.c.get(), {
            "age": 30, "height": 30.0, "zip": "01234", "tags": ["x", 2],
            "off": False, "none": None, "code": "30"}))

    def test_delete_list(self):
        self.c.set(a=1, ab=2, b=3)
        self.assertEqual(self.c.list(), ["a", "ab", "b"])
        self.assertEqual(self.c.list("a"), ["a", "ab"])
        self.c.delete("a", "b")
        self.assertEqual(self.c.list(), ["ab"])
        with self.assertRaises(objd.NotFound) as cm:
            self.c.delete("nope")
        self.assertEqual(cm.exception.status, 1)

    def test_delete_prefix(self):
        self.c.set(app1=1, app2=2, b=3)
        rev = self.c.delete_prefix("app")
        self.assertEqual(self.c.list(), ["b"])
        self.assertEqual(self.c.status()["revision"], rev)
        with self.assertRaises(objd.NotFound):
            self.c.delete_prefix("app")
        with self.assertRaises(objd.Invalid):
            self.c.delete_prefix("")

    def test_errors_carry_the_status(self):
        with self.assertRaises(objd.NotFound) as cm:
            self.c.get("missing")
        e = cm.exception
        self.assertEqual(e.status, objd.NOT_FOUND)
        self.assertIsInstance(e, KeyError)
        self.assertIsInstance(e, objd.Error)
        self.assertIn("missing", str(e))
        with self.assertRaises(objd.Invalid) as cm:
            self.c.set("", 1)
        self.assertEqual(cm.exception.status, 2)
        self.assertIsInstance(cm.exception, ValueError)
        self.assertRaises(objd.Invalid, self.c.set, "big", 1 << 63)
        self.assertRaises(objd.Invalid, self.c.set, "nul", "a\0b")
        self.assertRaises(objd.Invalid, self.c.set, "s", "\ud800")
        self.assertRaises(objd.Invalid, self.c.set, "k", {1: 2})
        self.assertRaises(TypeError, self.c.set, "k", object())
        deep = 1
        for _ in range(70):
            deep = [deep]
        self.assertRaises(objd.Invalid, self.c.set, "deep", deep)
        # The connection is still good after all of that.
        self.c.ping()

    def test_objd_refuses_what_python_lets_through(self):
        # A duplicate key in one set: the request reaches objd, which
        # answers INVALID; the exception carries objd's words.
        req = objd.pb.Request()
        for value in (1, 2):
            e = req.set.entries.add()
            e.key = "twice"
            e.value.CopyFrom(objd.to_value(value))
        with self.assertRaises(objd.Invalid) as cm:
            self.c.call(req)
        self.assertEqual(cm.exception.status, 2)
        self.c.ping()

    def test_unreachable(self):
        with self.assertRaises(objd.Unreachable) as cm:
            objd.connect(os.path.join(self.dir, "none.sock"))
        self.assertEqual(cm.exception.status, 3)
        self.assertIn("none.sock", str(cm.exception))

    def test_objd_goes_away(self):
        self.stop()
        with self.assertRaises(objd.Unreachable):
            self.c.get()
        with self.assertRaises(objd.Unreachable):
            self.c.ping()

    def test_status_ping_reload_compact(self):
        self.c.set(a=1)
        st = self.c.status()
        self.assertEqual(st["pid"], self.proc.pid)
        self.assertEqual(st["socket"], self.sock)
        self.assertEqual(st["file"], self.file)
        self.assertEqual(st["keys"], 1)
        self.assertEqual(st["revision"], self.c.revision)
        self.c.ping()
        self.c.reload()
        self.c.compact()
        self.assertEqual(self.c.get(), {"a": 1})

    def test_history_as_objctl_json_history(self):
        self.c.set(k=1)
        self.c.set(k="two")
        self.c.delete("k")
        self.c.set(k=[3])
        mine = self.c.history("k")
        theirs = [json.loads(line) for line in
                  self.objctl("--json", "history", "k").splitlines()]
        self.assertEqual(mine, theirs)
        self.assertEqual([v["what"] for v in mine],
                         ["set", "set", "delete", "set"])
        self.assertEqual([v["revision"] for v in mine], [1, 2, 3, 4])
        self.assertEqual(mine[1]["value"], "two")
        self.assertNotIn("value", mine[2])
        self.assertTrue(mine[0]["time"].endswith("Z"))
        with self.assertRaises(objd.NotFound):
            self.c.history("never")

    def test_get_at(self):
        self.c.set(a=1, b="x")
        self.c.set(a=2)
        self.c.delete("b")
        self.assertEqual(self.c.get("a", at=1), 1)
        self.assertEqual(self.c.get("a", at=2), 2)
        self.assertEqual(self.c.get(at=1), {"a": 1, "b": "x"})
        self.assertEqual(self.c.get(at=3), {"a": 2})
        with self.assertRaises(objd.NotFound) as cm:
            self.c.get("b", at=3)
        self.assertIn("did not exist", str(cm.exception))
        with self.assertRaises(objd.Invalid):
            self.c.get("a", at=4)

    def test_get_consistent(self):
        # On the file it is a plain read.
        self.c.set(a=1, b="x")
        self.assertEqual(self.c.get("a", consistent=True), 1)
        self.assertEqual(self.c.get(consistent=True), {"a": 1, "b": "x"})
        with self.assertRaises(objd.Invalid):
            self.c.get("a", at=1, consistent=True)

    def test_status_as_objctl_json_status(self):
        self.c.set(a=1)
        mine = self.c.status()
        theirs = json.loads(self.objctl("--json", "status"))
        self.assertEqual(sorted(mine), sorted(theirs))
        for k in theirs:
            self.assertIs(type(mine[k]), type(theirs[k]), k)
            if k not in ("uptime", "clients"):
                self.assertEqual(mine[k], theirs[k], k)
        self.assertIsNone(mine["last_compaction"])
        self.assertIsNone(mine["last_reload_error"])
        self.c.compact()
        self.assertRegex(self.c.status()["last_compaction"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")

    def test_watch(self):
        self.c.set(a=1, b="x")
        w = self.c.watch("a")
        first = next(w)
        self.assertEqual(first, {"revision": self.c.revision,
                                 "type": "current", "values": {"a": 1}})
        self.c.set(b="y")               # not under the prefix
        self.c.set(a=2.0)
        self.assertEqual(next(w), {"revision": self.c.revision,
                                   "type": "set", "key": "a", "value": 2.0})
        self.c.delete("a")
        self.assertEqual(next(w), {"revision": self.c.revision,
                                   "type": "delete", "key": "a"})
        rev = self.c.revision
        # The client's own connection stays usable: the watch has its own.
        self.assertEqual(self.c.get("b"), "y")
        w.close()
        eventually(lambda: self.c.status()["clients"] == 1,
                   "the watch's connection to close")
        # Resume after rev - 1: only the delete, without current values.
        w = self.c.watch(since=rev - 1)
        self.assertEqual(next(w), {"revision": rev, "type": "delete",
                                   "key": "a"})
        w.close()
        with self.assertRaises(objd.Invalid):
            next(self.c.watch(since=rev + 100))

    def test_hold(self):
        self.c.set(other=1)
        w = self.c.watch(since=self.c.revision)
        with self.c.hold(leader="me", lock=1) as held:
            self.assertEqual(self.c.get("leader"), "me")
            self.assertEqual(held.revision, self.c.status()["revision"])
            self.assertEqual(self.c.status()["held_keys"], 2)
            # if_absent: Conflict, and nothing set.
            with self.assertRaises(objd.Conflict):
                self.c.hold({"lock": 2, "free": 1}, if_absent=True)
            self.assertRaises(objd.NotFound, self.c.get, "free")
        # The block's end closed the connection: the keys went, as one
        # change.
        eventually(lambda: "leader" not in self.c.get(),
                   "the held keys to go")
        self.assertEqual(self.c.get(), {"other": 1})
        events = [next(w) for _ in range(4)]
        self.assertEqual([e["type"] for e in events],
                         ["set", "set", "delete", "delete"])
        self.assertEqual(events[2]["revision"], events[3]["revision"])
        w.close()
        # if_absent succeeds when no key exists; release() lets go.
        held = self.c.hold("lock", 3, if_absent=True)
        self.assertEqual(self.c.get("lock"), 3)
        held.release()
        eventually(lambda: "lock" not in self.c.get(), "the lock to go")

    def test_watch_sees_an_expiry(self):
        rev = self.c.set(keep=1)
        w = self.c.watch(since=rev)
        self.objctl("set", "--ttl", "0.2", "brief", "1")
        self.assertEqual(next(w)["type"], "set")
        self.assertEqual(next(w), {"revision": rev + 2, "type": "expire",
                                   "key": "brief"})
        w.close()

    def test_watch_sees_a_reload(self):
        w = self.c.watch()
        next(w)
        objd.write_file(self.file, {"z": 1})
        ev = next(w)
        self.assertEqual(ev["type"], "reload")
        self.assertNotIn("key", ev)
        self.assertEqual(self.c.get(), {"z": 1})
        w.close()

    def test_watch_ended_by_a_stop(self):
        w = self.c.watch()
        next(w)
        self.c.set(k=1)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(next(w)["key"], "k")
        with self.assertRaises(objd.Failed) as cm:
            next(w)
        self.assertIn("objd stopped", str(cm.exception))
        self.assertEqual(self.proc.wait(DEADLINE), 0, self.objd_log())
        self.proc = None

    @unittest.skipUnless(os.geteuid() == 0, "needs root to be another user")
    def test_socket_closed_to_the_user_is_denied(self):
        # objd's socket is mode 0600: another user may not open it.
        code = ("import objd, sys\n"
                "try:\n"
                "    objd.connect(sys.argv[1])\n"
                "except objd.Denied as e:\n"
                "    print(e.status, e)\n")

        def become_nobody():
            os.setgid(65534)
            os.setuid(65534)
        os.chmod(self.dir, 0o755)
        r = subprocess.run([sys.executable, "-c", code, self.sock],
                           capture_output=True, text=True, timeout=30,
                           preexec_fn=become_nobody)
        if r.returncode != 0 and "ModuleNotFoundError" in r.stderr:
            self.skipTest("the module cannot be read by uid 65534")
        self.assertTrue(r.stdout.startswith("5 cannot reach objd"),
                        r.stdout + r.stderr)

    def test_context_manager(self):
        with objd.connect(self.sock) as c:
            c.set("x", 1)
        self.assertRaises(objd.Unreachable, c.get)
        c.close()

    def test_socket_found_as_objctl_finds_it(self):
        # objctl --help prints the default socket it would use.
        def objctl_default(env):
            out = subprocess.run([OBJCTL, "--help"], env=env,
                                 capture_output=True, text=True).stdout
            return out.split("the default, now\n")[1].split("\n")[0][:-1]

        base = {k: v for k, v in os.environ.items()
                if k not in ("OBJD_SOCKET", "XDG_RUNTIME_DIR")}
        for extra in ({}, {"OBJD_SOCKET": self.sock},
                      {"XDG_RUNTIME_DIR": self.dir},
                      {"OBJD_SOCKET": "", "XDG_RUNTIME_DIR": self.dir}):
            env = dict(base, **extra)
            saved = dict(os.environ)
            os.environ.clear()
            os.environ.update(env)
            try:
                mine = objd.default_socket()
            finally:
                os.environ.clear()
                os.environ.update(saved)
            self.assertEqual(mine, objctl_default(env), extra)


class TestFile(ObjdTest):
    """The object file is one objd.Object: Python writes one that objd
    loads, and reads the one objd writes."""

    def test_python_writes_objd_loads(self):
        objd.write_file(self.file, SAMPLE)
        self.start()
        self.assertTrue(same(self.objctl_get(), SAMPLE))
        with objd.connect(self.sock) as c:
            self.assertTrue(same(c.get(), SAMPLE))
        self.stop()

    def test_python_replaces_the_file_of_a_running_objd(self):
        self.start()
        self.objctl("set", "old", "1")
        objd.write_file(self.file, {"new": [1, 2.5], "raw": b"\xff"})
        eventually(lambda: same(self.objctl_get(),
                                {"new": [1, 2.5], "raw": b"\xff"}),
                   "objd to load the file Python wrote")
        self.stop()

    def test_python_reads_objds_file(self):
        self.start()
        with objd.connect(self.sock) as c:
            c.set(SAMPLE)
        self.objctl("set", "later", "2", "height", "31.5")
        self.objctl("del", "ok", "raw")
        shown = self.objctl_get()
        self.assertTrue(same(objd.read_file(self.file), shown),
                        (objd.read_file(self.file), shown))
        # The same with the generated module alone, as any program would.
        msg = objd.pb.Object()
        with open(self.file, "rb") as f:
            msg.ParseFromString(f.read())
        self.assertEqual(msg.header.format, 1)
        self.assertTrue(len(msg.commits) > 0)
        # After objd stops and after a compaction, still the same.
        with objd.connect(self.sock) as c:
            c.compact()
        self.assertTrue(same(objd.read_file(self.file), shown))
        self.stop()
        self.assertTrue(same(objd.read_file(self.file), shown))

    def test_python_reads_a_compressed_file(self):
        self.start("--compress")
        with objd.connect(self.sock) as c:
            c.set(SAMPLE)
            c.set({"k%04d" % i: "value %d" % i for i in range(3000)})
            c.compact()
        # Changes after the compaction, to keys the chunks hold too:
        # the plain entries that follow must win.
        self.objctl("set", "name", "Jane", "k0007", "31.5")
        self.objctl("del", "raw", "k0008")
        shown = self.objctl_get()
        msg = objd.pb.Object()
        with open(self.file, "rb") as f:
            msg.ParseFromString(f.read())
        # 3000 entries of about 30 bytes: more than one chunk.
        self.assertGreater(len(msg.deflated_entries), 1)
        self.assertTrue(same(objd.read_file(self.file), shown),
                        (objd.read_file(self.file), shown))
        # The recipe of objd.proto, with zlib and protobuf alone.
        snap = objd.pb.Object()
        for chunk in msg.deflated_entries:
            snap.MergeFromString(zlib.decompress(chunk))
        self.assertEqual(len(snap.entries), len(SAMPLE) + 3000)
        self.assertEqual(msg.commits[0].n_entries, len(snap.entries))
        self.assertEqual(snap.entries["k0008"].string_value, "value 8")
        self.stop()
        # objd without --compress serves the same, and keeps it so.
        self.start()
        self.assertTrue(same(self.objctl_get(), shown))
        with objd.connect(self.sock) as c:
            c.compact()
        msg = objd.pb.Object()
        with open(self.file, "rb") as f:
            msg.ParseFromString(f.read())
        self.assertEqual(len(msg.deflated_entries), 0)
        self.assertTrue(same(objd.read_file(self.file), shown))
        self.stop()

    def test_python_refuses_a_zip_bomb(self):
        entry = objd.pb.Object()
        entry.entries["k"].string_value = "x" * 70000
        bomb = objd.pb.Object()
        bomb.deflated_entries.append(zlib.compress(
            entry.SerializeToString(), 9))
        with open(self.file, "wb") as f:
            f.write(bomb.SerializeToString())
        with self.assertRaisesRegex(objd.Invalid, "more than 65536"):
            objd.read_file(self.file)
        # A chunk cut short, and one that is not zlib at all.
        for bad in (zlib.compress(b"\x12\x00")[:-2], b"not zlib"):
            del bomb.deflated_entries[:]
            bomb.deflated_entries.append(bad)
            with open(self.file, "wb") as f:
                f.write(bomb.SerializeToString())
            with self.assertRaises(objd.Invalid):
                objd.read_file(self.file)

    def test_protoc_decodes_objds_file(self):
        protoc, proto = os.environ.get("PROTOC"), os.environ.get("OBJD_PROTO")
        if not protoc or not proto:
            self.skipTest("PROTOC and OBJD_PROTO are not set")
        self.start()
        self.objctl("set", "name", "John", "age", "30")
        with open(self.file, "rb") as f:
            r = subprocess.run(
                [protoc, "--proto_path", os.path.dirname(proto),
                 "--decode=objd.Object", os.path.basename(proto)],
                stdin=f, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('string_value: "John"', r.stdout)
        self.assertIn("int_value: 30", r.stdout)
        self.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
