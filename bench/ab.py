#!/usr/bin/env python3
"""Two ftpshd builds side by side on the local back-end: did a change cost
anything? Both serve a fresh temp root each on 127.0.0.1; the rounds
alternate between them (A B, B A, A B, ...) so that the machine's noise
falls on both, and the table gives medians and the ratio B / A.

Workloads per round: the small-file workload (bench/smallfiles.py: N STOR,
RETR and DELE of 4 KiB on one session) and curl RETR and STOR of one file
of SIZE MiB (to /dev/null, from a file in the page cache).

A benchmark, not a test: it asserts nothing about speed.

usage: bench/ab.py A_BINARY B_BINARY [--rounds 5] [--files 500] [--mib 256]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ftpbench_common import free_port, stop_process, wait_banner  # noqa: E402


class Daemon:
    def __init__(self, exe, work, name):
        self.root = os.path.join(work, name)
        os.makedirs(self.root)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "--listen", f"127.0.0.1:{self.port}", "--root", self.root,
             "--user", "alice:secret", "--allow-root", "--max-sessions", "64"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(work, f"{name}.log"), "ab"),
        )
        wait_banner(self.port)

    def stop(self):
        stop_process(self.proc, timeout=10)


def small_files(d, count):
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "smallfiles.py"), "--port", str(d.port),
         "--count", str(count)],
        check=True, capture_output=True, text=True, timeout=600,
    ).stdout
    return json.loads(out)


def curl_rate(args):
    out = subprocess.run(
        ["curl", "-s", "-S", "--max-time", "600", "-w", "%{speed_download} %{speed_upload}"] + args,
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return max(float(out[0]), float(out[1])) / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ftpsh-ab-")
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(args.mib):
            f.write(chunk)
    daemons = {"A": Daemon(args.a, work, "A"), "B": Daemon(args.b, work, "B")}
    for d in daemons.values():
        shutil.copy(big, os.path.join(d.root, "big.bin"))
    # Written back before the first round: a copy still dirty or under
    # writeback when it is sent made its server's RETR rows several times
    # slower (the second copy's, every round), whichever build served it.
    os.sync()
    results = {k: {"STOR files/s": [], "RETR files/s": [], "DELE files/s": [],
                   "curl RETR MiB/s": [], "curl STOR MiB/s": []} for k in daemons}
    try:
        for r in range(args.rounds):
            order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
            for k in order:
                d = daemons[k]
                sf = small_files(d, args.files)
                for phase in ("STOR", "RETR", "DELE"):
                    results[k][f"{phase} files/s"].append(sf[f"{phase.lower()}_per_s"])
                base = f"ftp://alice:secret@127.0.0.1:{d.port}"
                results[k]["curl RETR MiB/s"].append(
                    curl_rate(["-o", "/dev/null", f"{base}/big.bin"]))
                results[k]["curl STOR MiB/s"].append(
                    curl_rate(["-T", big, f"{base}/up.bin"]))
                print(f"round {r + 1} {k} done", file=sys.stderr)
    finally:
        for d in daemons.values():
            d.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"| workload ({args.rounds} interleaved rounds, medians) | A | B | B ÷ A |")
    print("|---|---|---|---|")
    for row in results["A"]:
        a = statistics.median(results["A"][row])
        b = statistics.median(results["B"][row])
        print(f"| {row} | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
