# SPDX-License-Identifier: ISC
"""objd: the Python client of objd.

objd is a daemon that keeps one typed key/value object on disk and serves
it on a UNIX socket. This module talks to it with native Python values:

    >>> import objd
    >>> c = objd.connect()
    >>> c.set("name", "John")
    >>> c.set(age=30, city="New York")
    >>> c.get()
    {'age': 30, 'city': 'New York', 'name': 'John'}
    >>> c.get("age")
    30

Values map one to one: None (null), bool, int (signed 64-bit), float
(double), str, bytes, list and dict (str keys). 30 and 30.0 stay
different. Tuples and bytearrays are accepted when writing and come back
as lists and bytes.

A key in a request is a path: "server.port" is the member "port" of
the map at the key "server" (setting it creates the map), and a
backslash escapes a dot or a backslash that belongs to a name.
key_path("a.b") gives the path of the top-level key "a.b";
key_path("server", "port") gives "server.port". The keys objd hands out
(get(), list()) are top-level keys as they are.

Every failure is an objd.Error carrying objd's status code, the number
objctl exits with: NotFound (1, also a KeyError), Invalid (2, also a
ValueError), Unreachable (3), Conflict (4), Denied (5) and Failed (6).

The socket is found as objctl finds it: the path given, else
$OBJD_SOCKET, else as root /run/objd/objd.sock, else
$XDG_RUNTIME_DIR/objd.sock, else /tmp/objd-$UID/objd.sock.

Client.watch() is a generator of the changes, as `objctl --json watch`
prints them, and Client.status() has the fields of `objctl --json
status`.

read_file() and write_file() read and write the object file itself (one
serialized objd.Object), for programs that share the file rather than
the socket.
"""

import datetime
import os
import socket
import tempfile
import time
import zlib

# The generated module may sit in another folder than this file (a build
# folder apart from the sources); the package spans both.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from . import objd_pb2 as pb  # noqa: E402  (generated from objd.proto)

__all__ = [
    "connect", "Client", "default_socket", "key_path", "read_file",
    "write_file",
    "to_value", "from_value", "Error", "NotFound", "Invalid", "Unreachable",
    "Conflict", "Denied", "Failed", "pb",
]

OK = 0
NOT_FOUND = 1
INVALID = 2
UNREACHABLE = 3
CONFLICT = 4
DENIED = 5
FAILED = 6

# The wire's limits (proto/objd.proto, common/framing.h, pbcheck.h).
FRAME_MAX = 64 << 20
DEPTH_MAX = 64
# The plain bytes of one deflated chunk of an object file written by
# objd --compress, at most (proto/objd.proto, Object.deflated_entries).
DEFLATED_CHUNK_MAX = 65536
KEY_MAX_LEN = 4096
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
TIMEOUT_DEFAULT = 30.0


class Error(Exception):
    """A failure, with objd's status code in .status."""

    status = FAILED

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message

    def __str__(self):
        return self.message


class NotFound(Error, KeyError):
    """A key does not exist (status 1)."""

    status = NOT_FOUND


class Invalid(Error, ValueError):
    """A malformed request, key or value (status 2)."""

    status = INVALID


class Unreachable(Error):
    """objd cannot be reached, or went away (status 3)."""

    status = UNREACHABLE


class Conflict(Error):
    """A condition failed; nothing changed (status 4)."""

    status = CONFLICT


class Denied(Error):
    """Permission denied (status 5)."""

    status = DENIED


class Failed(Error):
    """objd could not do it, or answered nonsense (status 6)."""

    status = FAILED


_ERRORS = {c.status: c for c in (NotFound, Invalid, Unreachable, Conflict,
                                 Denied, Failed)}


def _error(status, message):
    cls = _ERRORS.get(status, Failed)
    return cls(message, status if status in _ERRORS else FAILED)


def default_socket():
    """The socket objctl would use: $OBJD_SOCKET or the default."""
    env = os.environ.get("OBJD_SOCKET")
    if env:
        return env
    if os.getuid() == 0:
        return "/run/objd/objd.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return runtime + "/objd.sock"
    return "/tmp/objd-%d/objd.sock" % os.getuid()


def key_path(*names):
    """The path that names the key names[0], then its member names[1] and
    so on: dots and backslashes in a name are escaped."""
    if not names:
        raise TypeError("key_path() needs at least one name")
    return ".".join(n.replace("\\", "\\\\").replace(".", "\\.")
                    for n in names)


def to_value(x, _depth=1):
    """A Python value as an objd.Value message."""
    if _depth > DEPTH_MAX:
        raise Invalid("value nested deeper than %d levels" % DEPTH_MAX)
    v = pb.Value()
    if x is None:
        v.null_value = pb.NULL_VALUE
    elif isinstance(x, bool):
        v.bool_value = x
    elif isinstance(x, int):
        if not INT64_MIN <= x <= INT64_MAX:
            raise Invalid("integer %d does not fit in 64 bits" % x)
        v.int_value = x
    elif isinstance(x, float):
        v.double_value = x
    elif isinstance(x, str):
        _check_text(x, "a string")
        v.string_value = x
    elif isinstance(x, (bytes, bytearray, memoryview)):
        v.bytes_value = bytes(x)
    elif isinstance(x, (list, tuple)):
        v.list_value.SetInParent()
        for item in x:
            v.list_value.values.append(to_value(item, _depth + 1))
    elif isinstance(x, dict):
        v.map_value.SetInParent()
        for k, item in x.items():
            if not isinstance(k, str):
                raise Invalid("map keys are strings, not %r" % (k,))
            _check_text(k, "a map key")
            v.map_value.fields[k].CopyFrom(to_value(item, _depth + 1))
    else:
        raise TypeError("objd cannot keep a %s" % type(x).__name__)
    return v


def from_value(v):
    """An objd.Value message as a Python value."""
    kind = v.WhichOneof("kind")
    if kind == "null_value":
        return None
    if kind == "bool_value":
        return v.bool_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "string_value":
        return v.string_value
    if kind == "bytes_value":
        return v.bytes_value
    if kind == "list_value":
        return [from_value(item) for item in v.list_value.values]
    if kind == "map_value":
        return {k: from_value(item)
                for k, item in sorted(v.map_value.fields.items())}
    raise Failed("a value of kind %s is not a value" % kind)


def _check_text(s, what):
    if "\0" in s:
        raise Invalid("%s contains a NUL character" % what)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("%s is not valid Unicode (a lone surrogate)" % what)


def _check_key(key):
    if not isinstance(key, str):
        raise TypeError("keys are strings, not %s" % type(key).__name__)
    if key == "":
        raise Invalid("a key cannot be empty")
    _check_text(key, "a key")
    if len(key.encode("utf-8")) > KEY_MAX_LEN:
        raise Invalid("a key is at most %d bytes" % KEY_MAX_LEN)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# The StatusInfo fields that objctl --json status shows as times (null
# for 0, never) and as texts that may be absent (null when empty).
_STATUS_TIMES = ("last_load", "last_save", "last_compaction", "since",
                 "last_contact")
_STATUS_TEXTS = ("last_reload_error", "rejected_file", "last_write_error",
                 "backend", "endpoint", "prefix")


def _iso_time(t):
    """A time in seconds since the epoch as objctl prints it: ISO 8601 in
    local time with its offset, to the second; None for 0."""
    if not t > 0:
        return None
    try:
        when = datetime.datetime.fromtimestamp(int(t)).astimezone()
    except (OverflowError, OSError, ValueError):
        return "%.0f seconds since the epoch" % t
    return when.isoformat()


def _status_dict(info):
    out = {}
    for f in info.DESCRIPTOR.fields:
        v = getattr(info, f.name)
        if f.message_type is not None:
            # etcd's part (objd --etcd), or None.
            v = _status_dict(v) if info.HasField(f.name) else None
        elif f.name in _STATUS_TIMES:
            v = _iso_time(v)
        elif f.name in _STATUS_TEXTS:
            v = v or None
        out[f.name] = v
    return out


def _event_dict(ev):
    """An Event as objctl --json watch prints it."""
    d = {"revision": ev.revision,
         "type": pb.Event.Type.Name(ev.type).lower()}
    if ev.type != pb.Event.RELOAD:
        d["key"] = ev.key
    if ev.HasField("value"):
        d["value"] = from_value(ev.value)
    return d


def _set_request(what, args, kwargs):
    """The Set request of set() and hold()."""
    if len(args) == 2:
        pairs = {args[0]: args[1]}
    elif len(args) == 1 and isinstance(args[0], dict):
        pairs = dict(args[0])
    elif not args:
        pairs = {}
    else:
        raise TypeError("%s(key, value), %s(mapping) or "
                        "%s(key=value, ...)" % (what, what, what))
    pairs.update(kwargs)
    if not pairs:
        raise Invalid("%s needs at least one key" % what)
    req = pb.Request()
    for k, v in pairs.items():
        _check_key(k)
        entry = req.set.entries.add()
        entry.key = k
        entry.value.CopyFrom(to_value(v))
    return req


class Held:
    """Keys held by a connection (Client.hold): they go when it closes,
    at the end of a with block or with release()."""

    def __init__(self, client):
        self._client = client
        self.revision = client.revision

    def release(self):
        """Closes the connection: objd deletes the keys. Calling it
        twice is harmless."""
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _version_dict(v):
    """A Version as objctl --json history prints it."""
    when = None
    if v.time > 0:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v.time))
    d = {"revision": v.revision, "time": when,
         "what": pb.Version.What.Name(v.what).lower()}
    if v.HasField("value"):
        d["value"] = from_value(v.value)
    return d


def connect(socket_path=None, timeout=TIMEOUT_DEFAULT):
    """A new Client connected to objd; see Client."""
    return Client(socket_path, timeout)


class Client:
    """One connection to objd. Calls block until objd answers; timeout
    (seconds, None or 0 for none) bounds each. Not for use by several
    threads at once. Usable as a context manager, which closes it."""

    def __init__(self, socket_path=None, timeout=TIMEOUT_DEFAULT):
        self.socket_path = socket_path or default_socket()
        self._timeout = timeout
        self.revision = 0
        self._id = 0
        self._buf = b""
        if timeout is not None and timeout < 0:
            raise Invalid("invalid timeout %r" % (timeout,))
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout or None)
        try:
            self._sock.connect(self.socket_path)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            self._sock.close()
            raise Unreachable("cannot reach objd at %s: is objd running? "
                              "(%s)" % (self.socket_path, e.strerror))
        except PermissionError as e:
            self._sock.close()
            raise Denied("cannot reach objd at %s: %s (is it another "
                         "user's objd?)" % (self.socket_path, e.strerror))
        except OSError as e:
            self._sock.close()
            raise Unreachable("cannot reach objd at %s: %s"
                              % (self.socket_path, e.strerror or e))

    def close(self):
        """Closes the connection. Calling it twice is harmless."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()

    # Requests.

    def get(self, key=None, at=None, consistent=False):
        """The value of key; or with no key, the whole object as a dict.
        at=REV: as it was at revision REV, from the history objd keeps;
        NotFound if key did not exist then, or if the history does not
        reach back so far (the message says which). consistent=True:
        objd answers once it holds everything its backend had (objd
        --etcd: after a quorum read; Failed if etcd is unreachable)."""
        req = pb.Request()
        req.get.SetInParent()
        if at is not None:
            if at <= 0:
                raise Invalid("at must be a revision above 0")
            if consistent:
                raise Invalid("a consistent read is of now: not with at")
            req.get.at_revision = at
        req.get.consistent = consistent
        if key is not None:
            _check_key(key)
            req.get.keys.append(key)
        resp = self.call(req)
        if key is None:
            return {e.key: self._entry_value(e) for e in resp.entries}
        for e in resp.entries:
            if e.key == key:
                return self._entry_value(e)
        raise NotFound("key not found: %s" % key)

    def set(self, *args, **kwargs):
        """Sets keys in one atomic change: set(key, value),
        set({key: value, ...}) or set(key=value, ...). Returns the
        revision."""
        req = _set_request("set", args, kwargs)
        self.call(req)
        return self.revision

    def hold(self, *args, if_absent=False, **kwargs):
        """Sets keys in one atomic change, held by a connection of its
        own: they live as long as it, and go (as one change) when it
        closes, however it closes (the process ends, even killed).
        hold(key, value), hold({key: value, ...}) or hold(key=value, ...).
        Returns a Held, a context manager: `with c.hold(leader="me"):`
        holds the keys for the block. if_absent=True raises Conflict, and
        sets nothing, if any key exists: a lock. A held key set again by
        another client becomes that client's."""
        req = _set_request("hold", args, kwargs)
        req.set.hold = True
        if if_absent:
            for e in req.set.entries:
                cond = req.set.conditions.add()
                cond.key = e.key
                cond.absent = True
        h = Client(self.socket_path, self._timeout)
        try:
            h.call(req)
        except BaseException:
            h.close()
            raise
        return Held(h)

    def delete(self, *keys):
        """Deletes keys in one atomic change: all of them, or none and
        NotFound if one does not exist. Returns the revision."""
        if not keys:
            raise Invalid("delete needs at least one key")
        req = pb.Request()
        for k in keys:
            _check_key(k)
            req.delete.keys.append(k)
        self.call(req)
        return self.revision

    def delete_prefix(self, prefix):
        """Deletes every top-level key that starts with prefix (text, not
        a path) in one atomic change, and NotFound if none does. Returns
        the revision."""
        _check_text(prefix, "prefix")
        if not prefix:
            raise Invalid("delete_prefix needs a prefix that is not empty")
        req = pb.Request()
        req.batch.operations.add().delete_prefix = prefix
        self.call(req)
        return self.revision

    def history(self, key):
        """The versions objd keeps of key, oldest first: a list of dicts
        shaped as the lines of `objctl --json history`: {"revision",
        "time" (ISO 8601 in UTC, or None if unknown), "what" ("set",
        "delete" or "expire"), and "value" for a set}. NotFound if key
        has none."""
        _check_key(key)
        req = pb.Request()
        req.history.key = key
        return [_version_dict(v) for v in self.call(req).versions]

    def list(self, prefix=""):
        """The keys that start with prefix, sorted bytewise."""
        req = pb.Request()
        req.list.prefix = prefix
        return list(self.call(req).keys)

    def status(self):
        """objd's state as a dict with the fields and types of `objctl
        --json status`: pid, uptime, file, socket, keys, revision,
        last_load, last_save and more. Times are ISO 8601 text in local
        time, and a time that never was or a text that is empty (no
        error) is None."""
        req = pb.Request()
        req.status.SetInParent()
        resp = self.call(req)
        if not resp.HasField("info"):
            raise Failed("objd answered a status query without its state")
        return _status_dict(resp.info)

    def watch(self, prefix="", since=None):
        """Follows changes, on a connection of its own: a generator of
        dicts shaped as the lines of `objctl --json watch`. Without since,
        the first is {"revision": R, "type": "current", "values": {...}},
        the keys that start with prefix at revision R; then one dict per
        change, in revision order: {"revision", "type": "set", "key",
        "value"}, {"revision", "type": "delete", "key"}, {"revision",
        "type": "expire", "key"} (its time to live ran out) or
        {"revision", "type": "reload"} (objd loaded its file: read
        everything again).
        since=REV resumes after revision REV, without the current values;
        NotFound if objd no longer holds the changes since then. The
        generator waits as long as it takes for the next change; closing
        it (or leaving a for loop over it) closes its connection. A watch
        that objd drops, or ends because it stops, raises Failed with
        objd's reason."""
        w = Client(self.socket_path, self._timeout)
        try:
            req = pb.Request()
            req.watch.prefix = prefix
            if since is not None:
                if since <= 0:
                    raise Invalid("since must be a revision above 0")
                req.watch.since = since
            first = w.call(req)
            if since is None:
                yield {"revision": first.revision, "type": "current",
                       "values": {e.key: w._entry_value(e)
                                  for e in first.entries}}
            for ev in first.events:
                yield _event_dict(ev)
            w._sock.settimeout(None)
            while True:
                resp = w._next_frame(req.id)
                for ev in resp.events:
                    yield _event_dict(ev)
        finally:
            w.close()

    def ping(self):
        """Checks that objd answers; raises if it does not."""
        req = pb.Request()
        req.ping.SetInParent()
        self.call(req)

    def reload(self):
        """Asks objd to load its file now."""
        req = pb.Request()
        req.reload.SetInParent()
        self.call(req)

    def compact(self):
        """Asks objd to rewrite its file with only the live state; returns
        once the new file is in place."""
        req = pb.Request()
        req.compact.SetInParent()
        self.call(req)

    # The wire.

    def call(self, req):
        """Sends an objd.Request and returns objd's objd.Response, or
        raises the Error its status names."""
        if self._sock is None:
            raise Unreachable("the connection to objd at %s is closed"
                              % self.socket_path)
        self._id += 1
        req.id = self._id
        body = req.SerializeToString()
        try:
            self._sock.sendall(_varint(len(body)) + body)
            resp = pb.Response()
            resp.ParseFromString(self._read_frame())
        except socket.timeout:
            self.close()
            raise Unreachable("objd at %s did not answer in time: is it "
                              "stuck?" % self.socket_path)
        except OSError as e:
            self.close()
            raise Unreachable("lost objd at %s: %s"
                              % (self.socket_path, e.strerror or e))
        except Exception as e:
            if isinstance(e, Error):
                raise
            self.close()
            raise Failed("objd at %s answered nonsense: %s"
                         % (self.socket_path, e))
        if resp.id != req.id:
            self.close()
            raise Failed("objd at %s answered request %d instead of %d"
                         % (self.socket_path, resp.id, req.id))
        self.revision = resp.revision
        if resp.status != OK:
            raise _error(resp.status, resp.error or
                         "objd answered status %d" % resp.status)
        return resp

    def _next_frame(self, want_id):
        """The next frame of a watch: its Response, or the Error that
        ends the watch."""
        try:
            resp = pb.Response()
            resp.ParseFromString(self._read_frame())
        except Unreachable:
            raise Unreachable("the watch ended: objd at %s closed the "
                              "connection without answering: check "
                              "objd's log" % self.socket_path)
        except OSError as e:
            self.close()
            raise Unreachable("lost objd at %s: %s"
                              % (self.socket_path, e.strerror or e))
        except Exception as e:
            if isinstance(e, Error):
                raise
            self.close()
            raise Failed("objd at %s answered nonsense: %s"
                         % (self.socket_path, e))
        if resp.id != want_id:
            self.close()
            raise Failed("objd at %s answered request %d in a watch of %d"
                         % (self.socket_path, resp.id, want_id))
        if resp.status != OK:
            self.close()
            raise _error(resp.status, resp.error or
                         "objd answered status %d" % resp.status)
        return resp

    def _entry_value(self, entry):
        if not entry.HasField("value"):
            raise Failed("objd answered key %s without a value" % entry.key)
        return from_value(entry.value)

    def _fill(self, want):
        while len(self._buf) < want:
            chunk = self._sock.recv(max(want - len(self._buf), 65536))
            if not chunk:
                self.close()
                raise Unreachable("objd at %s closed the connection "
                                  "without answering: check objd's log"
                                  % self.socket_path)
            self._buf += chunk

    def _read_frame(self):
        n = shift = used = 0
        while True:
            self._fill(used + 1)
            b = self._buf[used]
            used += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if used == 10:
                raise Failed("a frame's length is not a varint")
        if n > FRAME_MAX:
            raise Failed("a frame of %d bytes is over the limit" % n)
        self._fill(used + n)
        body, self._buf = self._buf[used:used + n], self._buf[used + n:]
        return body


def _inflate_entries(chunk):
    """The Object that one deflated chunk holds: map entries only, from a
    zlib stream that inflates to at most DEFLATED_CHUNK_MAX bytes (a
    larger one is refused before more is inflated: no zip bomb)."""
    d = zlib.decompressobj()
    try:
        data = d.decompress(chunk, DEFLATED_CHUNK_MAX + 1)
    except zlib.error as e:
        raise Invalid("a deflated chunk does not inflate: %s" % e) from None
    if len(data) > DEFLATED_CHUNK_MAX:
        raise Invalid("a deflated chunk inflates to more than %d bytes"
                      % DEFLATED_CHUNK_MAX)
    if not d.eof or d.unused_data:
        raise Invalid("a deflated chunk is cut short, or bytes follow "
                      "its zlib stream")
    part = pb.Object()
    part.MergeFromString(data)
    if part.HasField("header") or part.commits or part.deflated_entries:
        raise Invalid("a deflated chunk holds more than map entries")
    return part


def read_file(path):
    """The object in an objd file, as a dict. Reads what objd writes
    (entries, tombstones of deleted keys, commit records, and with
    objd --compress the snapshot's entries in deflated chunks) and what
    any program writes (the entries alone)."""
    with open(path, "rb") as f:
        obj = pb.Object()
        obj.ParseFromString(f.read())
    if obj.deflated_entries:
        # The chunks hold the snapshot at the head of the file: every
        # plain entry is newer, and wins.
        merged = pb.Object()
        for chunk in obj.deflated_entries:
            merged.MergeFrom(_inflate_entries(chunk))
        for key, value in obj.entries.items():
            merged.entries[key].CopyFrom(value)
        obj = merged
    out = {}
    for key in sorted(obj.entries):
        v = obj.entries[key]
        if v.WhichOneof("kind") == "tombstone":
            continue
        out[key] = from_value(v)
    return out


def write_file(path, obj):
    """Replaces the objd file at path with obj (a dict), as objd-file(5)
    says an outside program should: a new file, made durable and renamed
    over the old one. A running objd loads it at its next look."""
    msg = pb.Object()
    for k, v in obj.items():
        _check_key(k)
        msg.entries[k].CopyFrom(to_value(v))
    data = msg.SerializeToString()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".objd-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)

