#!/usr/bin/env python3
"""Clients killed in the middle of a STOR: how many uploads ftpshd commits.

Starts its own ftpshd (and, with --haproxy, its own HAProxy in front of it,
control connection with send-proxy-v2, passive ports relayed plainly, as
tests/tests/proxy_protocol/haproxy.rs), puts an old `victim.bin` in the
root, then COUNT times: a forked client logs in, starts `STOR victim.bin`
(no ALLO), sends SIZE bytes, and is SIGKILLed by the parent (by PID) a
moment later, so its kernel ends both connections with FINs. After the
daemon logged the transfer, a `victim.bin` that is not the old file was a
killed upload committed (it is put back).

The daemon runs with RUST_LOG=ftpsh_daemon=debug; its line "control
connection closed after the data connection of an upload ... after_us=N"
gives the gap between the data connection's end and the control
connection's end as the daemon saw them, for every upload still settling
when the control connection ended. To see the whole distribution, widen
the window of a measuring build (FTPSHD_MEASURE_WINDOW_US, a temporary
override, not in the shipped daemon).

A benchmark, not a test: it prints one JSON object and asserts nothing.
Every process it starts is stopped by its PID; traffic stays on 127/8.

usage: bench/killed_stor.py --ftpshd target/release/ftpshd [--haproxy]
                            [--count 500] [--size 65536] [--extra=ARG ...]
       bench/killed_stor.py --ftpshd ... [--haproxy] --smallfiles 500 [--rounds 3]
         (the small-file STOR rate of the same setup, by bench/smallfiles.py)
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BALANCER = "127.0.0.2"
CLIENT = "127.0.0.5"
OLD = b"O" * 200_000


def free_port(hosts):
    for _ in range(100):
        s = socket.socket()
        s.bind((hosts[0], 0))
        port = s.getsockname()[1]
        ok = True
        holds = [s]
        for h in hosts[1:]:
            t = socket.socket()
            try:
                t.bind((h, port))
                holds.append(t)
            except OSError:
                ok = False
        for h in holds:
            h.close()
        if ok:
            return port
    sys.exit("no free port")


def free_range(hosts, n):
    for _ in range(100):
        low = free_port(hosts)
        ok = True
        for p in range(low, low + n):
            for h in hosts:
                t = socket.socket()
                try:
                    t.bind((h, p))
                except OSError:
                    ok = False
                finally:
                    t.close()
        if ok:
            return low
    sys.exit("no free port range")


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return False


def reply(f):
    line = f.readline()
    code = line[:3]
    if line[3:4] == b"-":
        while True:
            line = f.readline()
            if not line or (line[:3] == code and line[3:4] == b" "):
                break
    return code


def victim(host, port, source, size, ready_w):
    """The child: a STOR that never finishes; never returns."""
    try:
        c = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
        f = c.makefile("rb")
        reply(f)
        for cmd in (b"USER alice", b"PASS secret", b"TYPE I"):
            c.sendall(cmd + b"\r\n")
            reply(f)
        c.sendall(b"PASV\r\n")
        line = f.readline().decode()
        nums = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", line).groups()
        dport = int(nums[4]) * 256 + int(nums[5])
        # The control connection's host, as ftplib and curl do.
        d = socket.create_connection((host, dport), timeout=10, source_address=(source, 0))
        c.sendall(b"STOR victim.bin\r\n")
        code = reply(f)
        if code != b"150":
            os.write(ready_w, b"E")
            os._exit(1)
        d.sendall(b"N" * size)
        os.write(ready_w, b"R")
        time.sleep(60)
    except Exception as e:  # noqa: BLE001 - report and die
        print(f"victim: {e}", file=sys.stderr)
        os.write(ready_w, b"E")
    os._exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ftpshd", required=True)
    ap.add_argument("--haproxy", action="store_true", help="through HAProxy")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--size", type=int, default=65536)
    ap.add_argument("--pause-ms", type=float, default=50, help="between the data and the kill")
    ap.add_argument("--extra", action="append", default=[], help="more ftpshd arguments")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--smallfiles", type=int, metavar="N",
                    help="instead of killing clients: bench/smallfiles.py --count N "
                         "(4 KiB) through the same setup, ROUNDS times")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--haproxy-global", action="append", default=[],
                    help="a line for HAProxy's global section (e.g. 'nbthread 1')")
    ap.add_argument("--pcap", action="store_true",
                    help="tcpdump on lo: the gap between the two FINs as they reach the "
                         "daemon's sockets (kernel timestamps, no loop wake-up in them)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="killed-stor-")
    root = os.path.join(work, "root")
    os.mkdir(root)
    vpath = os.path.join(root, "victim.bin")
    with open(vpath, "wb") as f:
        f.write(OLD)
    log_path = os.path.join(work, "ftpshd.log")
    hosts = ["127.0.0.1", BALANCER] if args.haproxy else ["127.0.0.1"]
    low = free_range(hosts, 8)
    dport = free_port(hosts)
    cmd = [args.ftpshd, "--listen", f"127.0.0.1:{dport}", "--root", root,
           "--user", "alice:secret", "--passive-ports", f"{low}-{low + 7}"]
    if args.haproxy:
        cmd.append("--proxy-protocol")
    cmd += args.extra
    env = dict(os.environ, RUST_LOG="info,ftpsh_daemon=debug", FTPSHD_ALLOW_ROOT="1")
    log = open(log_path, "wb")
    procs = [subprocess.Popen(cmd, stdout=log, stderr=log, env=env)]
    try:
        host, port = "127.0.0.1", dport
        front = None
        if args.haproxy:
            front = free_port(hosts)
            cfg = os.path.join(work, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(
                    "global\n    maxconn 200\n"
                    + "".join(f"    {g}\n" for g in args.haproxy_global) +
                    "defaults\n    mode tcp\n    timeout connect 10s\n"
                    "    timeout client 60s\n    timeout server 60s\n"
                    f"frontend ftp_control\n    bind {BALANCER}:{front}\n"
                    "    default_backend ftpshd_control\n"
                    "backend ftpshd_control\n"
                    f"    server ftpshd 127.0.0.1:{dport} send-proxy-v2 source 127.0.0.1\n"
                    f"frontend ftp_passive\n    bind {BALANCER}:{low}-{low + 7}\n"
                    "    default_backend ftpshd_passive\n"
                    "backend ftpshd_passive\n    server ftpshd 127.0.0.1 source 127.0.0.1\n"
                )
            hp = shutil.which("haproxy") or "/usr/sbin/haproxy"
            hlog = open(os.path.join(work, "haproxy.log"), "wb")
            procs.append(subprocess.Popen([hp, "-db", "-f", cfg], stdout=hlog, stderr=hlog,
                                          stdin=subprocess.DEVNULL))
            host, port = BALANCER, front
        source = CLIENT if args.haproxy else "127.0.0.1"

        def greets():
            try:
                with socket.create_connection((host, port), timeout=2) as s:
                    s.settimeout(2)
                    return s.recv(3) == b"220"
            except OSError:
                return False

        if not wait_for(greets, 30):
            sys.exit(f"server did not come up; see {work}")

        if args.smallfiles:
            script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smallfiles.py")
            for _ in range(args.rounds):
                out = subprocess.run(
                    [sys.executable, script, "--host", host, "--port", str(port),
                     "--count", str(args.smallfiles), "--size", "4096"],
                    check=True, capture_output=True, timeout=600).stdout
                r = json.loads(out)
                print(json.dumps({"haproxy": args.haproxy, "extra": args.extra,
                                  "stor_per_s": round(r["stor_per_s"]),
                                  "load": os.getloadavg()[0]}), flush=True)
            return

        def stors():
            with open(log_path, "rb") as f:
                return len(re.findall(rb"verb=STOR", f.read()))

        dump = os.path.join(work, "fins.pcap")
        if args.pcap:
            ours = f"port {dport} or portrange {low}-{low + 7}"
            flt = (f"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0 and dst host 127.0.0.1 "
                   f"and (dst {ours.replace('or ', 'or dst ')}) "
                   f"and not (src {ours.replace('or ', 'or src ')})")
            if args.haproxy:
                flt = (f"({flt}) or (tcp[tcpflags] & tcp-fin != 0 "
                       f"and src host {CLIENT} and dst host {BALANCER})")
            tlog = open(os.path.join(work, "tcpdump.log"), "wb")
            procs.append(subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-U", "-w", dump, flt],
                                          stdout=tlog, stderr=tlog))
            if not wait_for(lambda: b"listening" in open(tlog.name, "rb").read(), 10):
                sys.exit(f"tcpdump did not start; see {work}")

        committed = 0
        failures = 0
        done = 0
        for i in range(args.count):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                victim(host, port, source, args.size, w)
            os.close(w)
            got = b""
            if select.select([r], [], [], 20)[0]:
                got = os.read(r, 1)
            os.close(r)
            if got == b"R":
                time.sleep(args.pause_ms / 1000)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if got != b"R":
                failures += 1
                continue
            if not wait_for(lambda: stors() >= done + 1, 20):
                sys.exit(f"the daemon never logged transfer {i}; see {work}")
            done += 1
            with open(vpath, "rb") as f:
                now = f.read()
            if now != OLD:
                committed += 1
                with open(vpath, "wb") as f:
                    f.write(OLD)
        with open(log_path, "rb") as f:
            text = f.read()
        gaps = sorted(int(g) for g in re.findall(rb"after_us=(\d+)", text))
        windows = re.findall(rb"window=([0-9.]+)(\xc2\xb5s|ms|ns|s)", text)

        def pct(p):
            return gaps[min(len(gaps) - 1, int(p * len(gaps)))] if gaps else None

        fin, front_fin = [], []
        if args.pcap:
            time.sleep(0.5)
            procs[-1].terminate()
            procs[-1].wait()
            out = subprocess.run(["tcpdump", "-r", dump, "-n", "-tt"], capture_output=True,
                                 check=True).stdout.decode()
            legs = {"127.0.0.1": [], BALANCER: []}
            for line in out.splitlines():
                m = re.match(r"(\d+\.\d+) IP [\d.]+\.\d+ > ([\d.]+)\.(\d+):", line)
                if m and m.group(2) in legs:
                    ctrl = int(m.group(3)) in (dport, front)
                    legs[m.group(2)].append((float(m.group(1)), ctrl))
            # Sessions are ~50 ms apart: a data FIN and a control end within
            # 40 ms of each other are one killed client's. Positive: the
            # control connection's end came after the data connection's.
            for events, pairs in ((legs["127.0.0.1"], fin), (legs[BALANCER], front_fin)):
                i = 0
                while i + 1 < len(events):
                    (t0, c0), (t1, c1) = events[i], events[i + 1]
                    if c0 != c1 and t1 - t0 < 0.04:
                        pairs.append(round(((t1 - t0) if not c0 else (t0 - t1)) * 1e6))
                        i += 2
                    else:
                        i += 1
                pairs.sort()

        def fpct(p, v=fin):
            return v[min(len(v) - 1, int(p * len(v)))] if v else None

        print(json.dumps({
            "haproxy": args.haproxy, "killed": done, "client_failures": failures,
            "committed": committed, "extra": args.extra,
            "gaps_logged": len(gaps), "gap_us_median": pct(0.5), "gap_us_p90": pct(0.9),
            "gap_us_p99": pct(0.99), "gap_us_max": gaps[-1] if gaps else None,
            "settling_logged": len(windows),
            "fin_pairs": len(fin), "fin_gap_us_min": fin[0] if fin else None,
            "fin_gap_us_median": fpct(0.5), "fin_gap_us_p99": fpct(0.99),
            "fin_gap_us_p999": fpct(0.999), "fin_gap_us_max": fin[-1] if fin else None,
            "fin_gap_over_100us": sum(1 for g in fin if g > 100),
            "fin_gap_over_1ms": sum(1 for g in fin if g > 1000),
            "client_fin_pairs": len(front_fin),
            "client_fin_gap_us_median": fpct(0.5, front_fin),
            "client_fin_gap_us_p99": fpct(0.99, front_fin),
            "client_fin_gap_us_max": front_fin[-1] if front_fin else None,
            "load": os.getloadavg()[0], "work": work if args.keep else None,
        }))
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
