#!/usr/bin/env python3
"""The small-file workload: on one session (Python ftplib, passive mode),
STOR N files of SIZE bytes, RETR each of them, DELE each of them.

Prints one JSON object: seconds per phase and files per second. A client of
a running server (the caller starts and stops servers); it checks that every
RETR got back what was stored. A benchmark, not a test: it asserts nothing
about speed.

usage: bench/smallfiles.py --port PORT [--user U --password P]
                           [--count 500] [--size 4096] [--prefix small] [--dir DIR]
"""

import argparse
import ftplib
import io
import json
import os
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--prefix", default="small")
    ap.add_argument("--dir", help="directory to work in (CWD after login)")
    args = ap.parse_args()

    payload = os.urandom(args.size)
    names = [f"{args.prefix}{i:05d}.bin" for i in range(args.count)]
    ftp = ftplib.FTP()
    ftp.connect(args.host, args.port, timeout=60)
    ftp.login(args.user, args.password)
    if args.dir:
        ftp.cwd(args.dir)
    ftp.voidcmd("TYPE I")

    t0 = time.perf_counter()
    for name in names:
        ftp.storbinary(f"STOR {name}", io.BytesIO(payload))
    t1 = time.perf_counter()
    for name in names:
        got = bytearray()
        ftp.retrbinary(f"RETR {name}", got.extend)
        if bytes(got) != payload:
            raise SystemExit(f"RETR {name}: {len(got)} bytes, not what was stored")
    t2 = time.perf_counter()
    for name in names:
        ftp.delete(name)
    t3 = time.perf_counter()
    ftp.quit()

    n = args.count
    print(json.dumps({
        "stor_s": t1 - t0, "retr_s": t2 - t1, "dele_s": t3 - t2,
        "stor_per_s": n / (t1 - t0), "retr_per_s": n / (t2 - t1),
        "dele_per_s": n / (t3 - t2),
    }))


if __name__ == "__main__":
    main()
