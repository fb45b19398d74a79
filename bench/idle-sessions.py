#!/usr/bin/env python3
"""Memory of N idle, logged-in FTP sessions: ftpshd next to vsftpd.

Starts `target/release/ftpshd` (build it first: `cargo build --release -p
ftpsh-daemon`), opens N control connections that each read the banner, log
in (USER/PASS, 230) and then stay idle, and reads the daemon's VmRSS from
/proc/PID/status before and after. vsftpd (if installed) gets the same
treatment over anonymous login; it forks one or two processes per session,
so its figure is the sum over the listener and all its descendants, given
both as RSS (shared library pages counted once per process) and as PSS
(shared pages divided among the processes that share them).

usage: bench/idle-sessions.py [--sessions 1000] [--no-vsftpd]
"""

import argparse
import os
import resource
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ftpbench_common import Ftpshd, Vsftpd, memory  # noqa: E402


def read_reply(sock, buf):
    """Reads one (possibly multi-line) reply; returns (code, rest of buf)."""
    while True:
        while b"\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed")
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        if len(line) >= 4 and line[3:4] == b" " and line[:3].isdigit():
            return int(line[:3]), buf


def open_sessions(port, user, password, n):
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        buf = b""
        code, buf = read_reply(s, buf)
        assert code == 220, f"session {i}: banner {code}"
        s.sendall(f"USER {user}\r\n".encode())
        code, buf = read_reply(s, buf)
        assert code in (230, 331), f"session {i}: USER {code}"
        if code == 331:
            s.sendall(f"PASS {password}\r\n".encode())
            code, buf = read_reply(s, buf)
        assert code == 230, f"session {i}: PASS {code}"
        socks.append(s)
    return socks


def measure(name, server, n):
    base = memory(server.pids)
    t0 = time.monotonic()
    socks = open_sessions(server.port, server.user, server.password, n)
    elapsed = time.monotonic() - t0
    time.sleep(2)  # let the last sessions settle before reading /proc
    loaded = memory(server.pids)
    for s in socks:
        s.close()
    per_rss = (loaded["rss_kib"] - base["rss_kib"]) / n
    per_pss = (loaded["pss_kib"] - base["pss_kib"]) / n
    print(f"{name}: {n} idle logged-in sessions (opened in {elapsed:.1f} s)")
    print(f"  processes: {loaded['processes']}")
    print(f"  RSS total: {loaded['rss_kib']} KiB (idle daemon {base['rss_kib']} KiB), "
          f"{per_rss:.1f} KiB per session")
    print(f"  PSS total: {loaded['pss_kib']} KiB (idle daemon {base['pss_kib']} KiB), "
          f"{per_pss:.1f} KiB per session")
    return loaded, per_rss, per_pss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--no-vsftpd", action="store_true")
    args = ap.parse_args()
    n = args.sessions

    # N client sockets here; the daemon child inherits the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * n + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    root = tempfile.mkdtemp(prefix="idle-bench-")
    os.chmod(root, 0o755)
    results = {}
    srv = Ftpshd(root, ["--max-sessions", str(n + 100), "--idle-timeout", "3600"])
    try:
        results["ftpshd"] = measure("ftpshd", srv, n)
    finally:
        srv.stop()
    if not args.no_vsftpd:
        try:
            v = Vsftpd(root)
        except FileNotFoundError as e:
            print(f"vsftpd: skipped ({e})")
        else:
            try:
                results["vsftpd"] = measure("vsftpd", v, n)
            finally:
                v.stop()
    if "vsftpd" in results:
        f, v = results["ftpshd"], results["vsftpd"]
        print(f"vsftpd / ftpshd, total RSS: {v[0]['rss_kib'] / f[0]['rss_kib']:.1f}x; "
              f"total PSS: {v[0]['pss_kib'] / max(f[0]['pss_kib'], 1):.1f}x")
    os.rmdir(root)


if __name__ == "__main__":
    main()
