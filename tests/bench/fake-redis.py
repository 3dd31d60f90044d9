#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""fake-redis.py SOCKET [--fail-set]: a small RESP server for smoke.sh.

It answers PING, GET, SET, MSET and DEL from a dict, as redis-server
would, so that objd-bench --redis is tested without redis installed.
With --fail-set, every SET answers an error. Replies of more than 64 KiB
go out in two writes, so that the client sees a reply cut in the middle.
"""
import asyncio
import os
import sys

store = {}
fail_set = "--fail-set" in sys.argv[2:]


def reply(args):
    cmd = args[0].upper()
    if cmd == b"PING":
        return b"+PONG\r\n"
    if cmd == b"SET" and len(args) == 3:
        if fail_set:
            return b"-ERR fake failure\r\n"
        store[args[1]] = args[2]
        return b"+OK\r\n"
    if cmd == b"MSET" and len(args) % 2 == 1:
        for i in range(1, len(args), 2):
            store[args[i]] = args[i + 1]
        return b"+OK\r\n"
    if cmd == b"GET" and len(args) == 2:
        value = store.get(args[1])
        if value is None:
            return b"$-1\r\n"
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if cmd == b"DEL":
        return b":%d\r\n" % sum(store.pop(k, None) is not None
                                 for k in args[1:])
    return b"-ERR unknown command\r\n"


async def serve(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if not line.startswith(b"*"):
                raise ValueError("not a RESP array: %r" % line)
            args = []
            for _ in range(int(line[1:])):
                head = await reader.readline()
                if not head.startswith(b"$"):
                    raise ValueError("not a bulk string: %r" % head)
                data = await reader.readexactly(int(head[1:]) + 2)
                args.append(data[:-2])
            out = reply(args)
            if len(out) > 65536:
                writer.write(out[:len(out) // 2])
                await writer.drain()
                await asyncio.sleep(0.01)
                out = out[len(out) // 2:]
            writer.write(out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    writer.close()


async def main():
    server = await asyncio.start_unix_server(serve, path=sys.argv[1])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if os.path.exists(sys.argv[1]):
        os.unlink(sys.argv[1])
    asyncio.run(main())
