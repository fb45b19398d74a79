#!/usr/bin/env python3
"""Memory of FTPS sessions in ftpshd: N plain idle connections, N that sent
AUTH TLS and stall before their ClientHello (a handshake flood), and N
logged in over TLS, each batch added on top of the previous one; the
daemon's VmRSS from /proc/PID/status after each batch.

Starts `target/release/ftpshd` (build it first: `cargo build --release -p
ftpsh-daemon`) with a self-signed certificate made by openssl(1).

usage: bench/ftps-sessions-memory.py [--sessions 1000]
"""

import argparse
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ftpbench_common import Ftpshd  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    n = ap.parse_args().sessions
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
            check=True, capture_output=True)
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        server = Ftpshd(root, ["--tls-cert", cert, "--tls-key", key,
                               "--max-sessions", str(3 * n + 10),
                               "--idle-timeout", "600", "--data-timeout", "600"])
        try:
            pid, port = server.proc.pid, server.port
            held = []
            figures = [("idle daemon", rss_kib(pid))]

            def batch(name, open_one):
                for _ in range(n):
                    held.append(open_one())
                time.sleep(0.5)
                figures.append((name, rss_kib(pid)))

            def plain():
                s = socket.create_connection(("127.0.0.1", port))
                s.recv(100)
                return s

            def stalled():
                s = plain()
                s.sendall(b"AUTH TLS\r\n")
                s.recv(100)
                return s

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE

            def logged_in():
                t = ctx.wrap_socket(stalled())
                for line in (b"USER alice\r\n", b"PASS secret\r\n"):
                    t.sendall(line)
                    t.recv(100)
                return t

            batch(f"+{n} plain idle connections", plain)
            batch(f"+{n} stalled AUTH TLS handshakes", stalled)
            batch(f"+{n} logged-in TLS sessions", logged_in)
            prev = None
            for name, kib in figures:
                extra = "" if prev is None else f"  (+{kib - prev} KiB, {(kib - prev) / n:.1f} KiB each)"
                print(f"{name:36} RSS {kib} KiB{extra}")
                prev = kib
        finally:
            server.stop()


if __name__ == "__main__":
    main()
