#!/usr/bin/env python3
"""ftpshd side by side with pyftpdlib 2.2.0 and vsftpd on 127.0.0.1, in one
run, interleaved where it matters, and one markdown table of medians and
ratios. Run it through bench/compare.sh (or `make bench`), which builds the
release daemon first. A benchmark, not a test: it asserts nothing about
speed, and CI does not run it.

Rows:
  small files   STOR, RETR, DELE of 500 x 4 KiB on one session (Python
                ftplib, bench/smallfiles.py), rounds interleaved
  ftpbench      pyftpdlib's published benchmark, `ftpbench -b all -n 300`
  sessions      10,000 logged-in sessions: login time, memory per session,
                NOOP round trip p50/p99 (vsftpd forks two processes per
                session: it gets --vsftpd-sessions, 1,000 by default)
  1 GiB         curl RETR (to /dev/null) and STOR of a 1 GiB file, rounds
                interleaved
  iperf3        one TCP stream over loopback, the ceiling
  s3            ftpshd --storage s3://... over SeaweedFS (bench/seaweedfs.py)
                next to ftpshd on the local back-end, in a table of their
                own: curl STOR and RETR of a 256 MiB file, and the small-file
                workload, rounds interleaved (needs weed and boto3)

Every server runs on a free port with a temp root, and is stopped by its
PID. ftpshd runs with its defaults (--fsync-uploads never, like the peers,
which never fsync); --also-durable adds a small-file round with
--fsync-uploads always.
"""

import argparse
import datetime
import ftplib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
USER, PASSWORD = "alice", "secret"
FD_LIMIT = 20000

sys.path.insert(0, HERE)
from ftpbench_common import descendants, free_port, pss_kib, stop_process, wait_banner  # noqa: E402
import seaweedfs  # noqa: E402


def fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


class Server:
    """A server process over a fresh writable root."""

    name = "?"
    user, password = USER, PASSWORD

    def __init__(self, work):
        # vsftpd refuses a writable anonymous root: every server gets the
        # same layout, a read-only root with the writable directory `up`,
        # and every workload works in /up.
        self.root = tempfile.mkdtemp(prefix=f"{self.short}-", dir=work)
        os.chmod(self.root, 0o755)
        self.up = os.path.join(self.root, "up")
        os.mkdir(self.up)
        os.chmod(self.up, 0o777)
        self.port = free_port()
        self.proc = None

    def memory_kib(self):
        """Memory of the server and its session processes (PSS: shared pages
        divided among the processes that share them)."""
        return sum(pss_kib(p) for p in [self.proc.pid, *descendants(self.proc.pid)])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kids = descendants(self.proc.pid)
            stop_process(self.proc)
            for pid in kids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def clear(self):
        for entry in os.listdir(self.up):
            path = os.path.join(self.up, entry)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)


class Ftpshd(Server):
    name, short = "ftpshd", "ftpshd"

    def __init__(self, work, extra=(), s3=None):
        """On the local back-end, or with `s3` (a seaweedfs.SeaweedFs) on
        the prefix `srv` of its bucket, alice's root being the prefix
        itself; the directory `up` is then made with MKD."""
        super().__init__(work)
        exe = os.environ.get("FTPSHD", os.path.join(REPO, "target", "release", "ftpshd"))
        storage, env = ["--root", self.root], {}
        if s3:
            self.name, self.short = "ftpshd, S3 back-end", "ftpshd-s3"
            storage, env = ["--storage", s3.storage_uri("srv"), "--root", "/"], s3.env()
        self.proc = subprocess.Popen(
            [exe, "--listen", f"127.0.0.1:{self.port}", *storage,
             "--user", f"{USER}:{PASSWORD}", "--max-sessions", "12000",
             # Every benchmark session comes from 127.0.0.1, often as root.
             "--max-sessions-per-ip", "12000", "--allow-root",
             "--idle-timeout", "3600", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(work, f"{self.short}.log"), "ab"),
            env={**os.environ, "RUST_LOG": "warn", **env}, preexec_fn=fd_limit)
        wait_banner(self.port)
        self.s3 = s3
        if s3:
            with self.ftp() as ftp:
                ftp.mkd("up")

    def ftp(self):
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.port, timeout=60)
        ftp.login(self.user, self.password)
        return ftp

    def clear(self):
        if not self.s3:
            return super().clear()
        with self.ftp() as ftp:
            for name in ftp.nlst("up"):
                ftp.delete(f"up/{os.path.basename(name)}")


class Pyftpdlib(Server):
    name, short = "pyftpdlib 2.2.0", "pyftpdlib"

    def __init__(self, work):
        super().__init__(work)
        self.proc = subprocess.Popen(
            [sys.executable, "-W", "ignore", os.path.join(HERE, "pyftpdlib_server.py"),
             str(self.port), self.root, USER, PASSWORD],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(work, "pyftpdlib.log"), "ab"), preexec_fn=fd_limit)
        wait_banner(self.port)


class Vsftpd(Server):
    """vsftpd, anonymous with write permission (its local users would need
    system accounts), in the foreground."""

    short = "vsftpd"
    user, password = "anonymous", "bench"

    def __init__(self, work):
        super().__init__(work)
        exe = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
        # `vsftpd -v` prints nothing when stdin is not a terminal; ask dpkg.
        version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "vsftpd"],
                                 capture_output=True, text=True).stdout
        m = re.match(r"([\d.]+)", version)
        self.name = f"vsftpd {m.group(1)}" if m else "vsftpd"
        shutil.chown(self.up, "ftp", "ftp")
        os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
        conf = os.path.join(work, f"vsftpd-{self.port}.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "listen=YES", "listen_ipv6=NO", "background=NO",
                "listen_address=127.0.0.1", f"listen_port={self.port}",
                "anonymous_enable=YES", f"anon_root={self.root}", "no_anon_password=YES",
                "local_enable=NO", "write_enable=YES", "anon_upload_enable=YES",
                "anon_mkdir_write_enable=YES", "anon_other_write_enable=YES",
                "anon_umask=022", "lock_upload_files=NO",
                "pasv_enable=YES", "pasv_address=127.0.0.1",
                "max_clients=0", "max_per_ip=0",
                "idle_session_timeout=3600", "data_connection_timeout=600",
                "xferlog_enable=NO", "dirmessage_enable=NO", "use_localtime=NO",
                "seccomp_sandbox=NO", "secure_chroot_dir=/var/run/vsftpd/empty",
                "ssl_enable=NO", "",
            ]))
        self.proc = subprocess.Popen([exe, conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, "vsftpd.log"), "ab"),
                                     preexec_fn=fd_limit)
        wait_banner(self.port)



# ---- workloads ----

def settle_disk():
    """Writes back all dirty pages first, so that no server's uploads are
    throttled by the dirty data an earlier step left behind (the kernel
    slows every writer once dirty pages pass a share of memory, and which
    server runs right after a 1 GiB step is an accident of the order)."""
    os.sync()


def small_files(srv, count, size):
    settle_disk()
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "smallfiles.py"), "--port", str(srv.port),
         "--user", srv.user, "--password", srv.password, "--count", str(count),
         "--size", str(size), "--dir", "up"],
        capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"smallfiles against {srv.name} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


FTPBENCH_ROWS = [
    ("STOR (client -> server)", "MB/sec", "ftpbench STOR, 1 client", "MB/s", True),
    ("RETR (server -> client)", "MB/sec", "ftpbench RETR, 1 client", "MB/s", True),
    ("concurrent clients (connect, login)", "secs", "ftpbench {n} clients connect+login", "s", False),
    ("STOR (1 file with", "MB/sec", "ftpbench STOR with {n} idle clients", "MB/s", True),
    ("RETR (1 file with", "MB/sec", "ftpbench RETR with {n} idle clients", "MB/s", True),
    ("concurrent clients (RETR", "secs", "ftpbench {n} concurrent RETR of 10 MB", "s", False),
    ("concurrent clients (STOR", "secs", "ftpbench {n} concurrent STOR of 10 MB", "s", False),
    ("concurrent clients (QUIT)", "secs", "ftpbench {n} clients QUIT", "s", False),
]


def ftpbench_script(work):
    path = os.environ.get("FTPBENCH")
    if not path:
        sdist = os.path.join(work, "sdist")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "pyftpdlib==2.2.0", "-d", sdist], check=True)
        subprocess.run(["tar", "xzf", os.path.join(sdist, "pyftpdlib-2.2.0.tar.gz"), "-C", sdist],
                       check=True)
        path = os.path.join(sdist, "pyftpdlib-2.2.0", "scripts", "ftpbench")
    patched = os.path.join(work, "ftpbench")
    with open(path) as f:
        text = f.read()
    # psutil 7 removed memory_info_ex(); and work in /up (see Server).
    text = text.replace("memory_info_ex()", "memory_info()")
    text = text.replace("    ftp.login(USER, PASSWORD)\n", "    ftp.login(USER, PASSWORD)\n    ftp.cwd('up')\n")
    with open(patched, "w") as f:
        f.write(text)
    return patched


def ftpbench(script, srv, clients, work):
    settle_disk()
    cwd = tempfile.mkdtemp(prefix="ftpbench-client-", dir=work)
    out = subprocess.run(
        [sys.executable, "-W", "ignore", script, "-u", srv.user, "-p", srv.password,
         "-H", "127.0.0.1", "-P", str(srv.port), "-b", "all", "-n", str(clients)],
        capture_output=True, text=True, timeout=900, cwd=cwd, preexec_fn=fd_limit)
    shutil.rmtree(cwd, ignore_errors=True)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)
    if out.returncode != 0:
        raise SystemExit(f"ftpbench against {srv.name} failed:\n{text}\n{out.stderr[-2000:]}")
    values = {}
    for line in text.splitlines():
        for key, unit, *_ in FTPBENCH_ROWS:
            if key in line and line.rstrip().endswith(unit):
                values[key] = float(line.split()[-2])
    return values


def read_reply(sock, buf):
    while True:
        while b"\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the control connection")
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        if len(line) >= 4 and line[3:4] == b" " and line[:3].isdigit():
            return int(line[:3]), buf


def sessions(srv, n, samples=2000):
    """Opens n logged-in sessions; memory per session, login time, NOOP
    round trips over a random sample of them. Refused = not logged in."""
    time.sleep(0.5)
    base = srv.memory_kib()
    socks, refused = [], 0
    t0 = time.perf_counter()
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code, buf = read_reply(s, b"")
            if code != 220:
                raise ConnectionError(code)
            s.sendall(f"USER {srv.user}\r\n".encode())
            code, buf = read_reply(s, buf)
            if code == 331:
                s.sendall(f"PASS {srv.password}\r\n".encode())
                code, buf = read_reply(s, buf)
            if code != 230:
                raise ConnectionError(code)
            socks.append(s)
        except (OSError, ConnectionError):
            refused += 1
    login = time.perf_counter() - t0
    time.sleep(1.0)
    loaded = srv.memory_kib()
    rtts = []
    for s in random.sample(socks, min(samples, len(socks))):
        t = time.perf_counter()
        s.sendall(b"NOOP\r\n")
        code, _ = read_reply(s, b"")
        rtts.append(time.perf_counter() - t)
    for s in socks:
        s.close()
    rtts.sort()
    return {
        "sessions": n, "refused": refused, "login_s": login,
        "kib_per_session": (loaded - base) / max(len(socks), 1),
        "noop_p50_us": rtts[len(rtts) // 2] * 1e6 if rtts else float("nan"),
        "noop_p99_us": rtts[int(len(rtts) * 0.99)] * 1e6 if rtts else float("nan"),
    }


def curl(args, size):
    out = subprocess.run(["curl", "-s", "--max-time", "600", *args],
                         capture_output=True, text=True, timeout=700)
    speed, got = out.stdout.split()
    if int(float(got)) != size:
        raise SystemExit(f"curl {args[-1]}: {got} bytes moved, want {size}")
    return float(speed) / 2**20


def random_file(path, size):
    """Writes `size` bytes from /dev/urandom to `path`, 8 MiB at a time."""
    with open("/dev/urandom", "rb") as r, open(path, "wb") as w:
        left = size
        while left:
            chunk = r.read(min(left, 8 << 20))
            w.write(chunk)
            left -= len(chunk)


def url(srv, path):
    return f"ftp://{srv.user}:{srv.password}@127.0.0.1:{srv.port}/{path}"


def iperf3(seconds):
    port = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds),
                              "-J"], capture_output=True, text=True, timeout=seconds + 30)
        return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 8 / 2**20
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()


def s3_section(local, s3, work, args, log, raw):
    """curl STOR then RETR of an --s3-mib file and the small-file workload,
    on ftpshd's local back-end and on its S3 back-end, rounds interleaved;
    rows (label, unit, local median, S3 median, S3-directly median or
    None); the rounds go to raw["s3_rounds"]."""
    size = args.s3_mib * 2**20
    src = os.path.join(work, "s3-big.bin")
    log(f"S3 rows: creating a {args.s3_mib} MiB file")
    random_file(src, size)
    pair = [local, s3]
    # SeaweedFS without ftpshd (curl's own S3 signing, one PUT, one GET of
    # the object): what the store itself gives on this machine.
    direct = [*s3.s3.curl_auth(), f"{s3.s3.endpoint}/{s3.s3.bucket}/direct.bin"]
    target = lambda s: direct if s == "direct" else [url(s, "up/s3-big.bin")]  # noqa: E731
    up = lambda s: curl(["-f", "-T", src, "-w", "%{speed_upload} %{size_upload}",  # noqa: E731
                         *target(s)], size)
    down = lambda s: curl(["-f", "-o", "/dev/null", "-w",  # noqa: E731
                           "%{speed_download} %{size_download}", *target(s)], size)
    # One untimed upload each first (see the 1 GiB rows: fresh memory on
    # the local side; on the S3 side, the volumes SeaweedFS grows at its
    # first write).
    three = [*pair, "direct"]
    name = lambda s: s if s == "direct" else s.name  # noqa: E731
    for s in three:
        settle_disk()
        up(s)
    stor = {name(s): [] for s in three}
    retr = {name(s): [] for s in three}
    small = {s.name: [] for s in pair}
    log(f"S3 rows: curl STOR + RETR of {args.s3_mib} MiB and {args.files} x 4 KiB, "
        f"{args.s3_rounds} interleaved rounds")
    for r in range(args.s3_rounds):
        for s in (three if r % 2 == 0 else three[::-1]):
            settle_disk()
            stor[name(s)].append(up(s))
            retr[name(s)].append(down(s))
        for s in (pair if r % 2 == 0 else pair[::-1]):
            small[s.name].append(small_files(s, args.files, 4096))
    for s in pair:
        s.clear()
    os.unlink(src)
    raw["s3_rounds"] = {"stor_mib_s": stor, "retr_mib_s": retr, "small": small}
    med = lambda runs, key=None: [  # noqa: E731
        statistics.median(x[key] if key else x for x in runs[name(s)])
        if name(s) in runs else None for s in three]
    n = args.s3_rounds
    return [
        (f"curl STOR of {args.s3_mib} MiB, median of {n}", "MiB/s", *med(stor)),
        (f"curl RETR of {args.s3_mib} MiB, median of {n}", "MiB/s", *med(retr)),
        (f"{args.files} STOR of 4 KiB, one session (ftplib)", "files/s", *med(small, "stor_per_s")),
        (f"{args.files} RETR of 4 KiB", "files/s", *med(small, "retr_per_s")),
        (f"{args.files} DELE", "ops/s", *med(small, "dele_per_s")),
    ]


# ---- the table ----

def fmt(v, unit):
    if v is None or v != v:
        return "-"
    if unit in ("s",):
        return f"{v:.2f} s"
    if unit == "us":
        return f"{v:,.0f} µs"
    if unit == "KiB":
        return f"{v:,.1f} KiB"
    return f"{v:,.0f} {unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (small files, STOR)")
    ap.add_argument("--retr-rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--vsftpd-sessions", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=300, help="ftpbench -n")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--s3-mib", type=int, default=256, help="file size of the S3 rows")
    ap.add_argument("--s3-rounds", type=int, default=3, help="interleaved rounds of the S3 rows")
    ap.add_argument("--skip", default="",
                    help="comma list of: small,ftpbench,sessions,big,iperf,s3")
    ap.add_argument("--also-durable", action="store_true")
    ap.add_argument("--json", help="also write the raw figures here")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(3 * args.sessions + 1000, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        print(f"note: could not raise the fd limit to {want} (have {soft}); "
              "run as root or lower --sessions", file=sys.stderr)

    work = tempfile.mkdtemp(prefix="ftpsh-compare-")
    os.chmod(work, 0o755)
    servers = []
    extra = []  # the S3 rows' SeaweedFS and daemon, stopped last
    rows = []  # (label, unit, higher_is_better, {server: value})
    s3_rows = []  # (label, unit, local, s3)
    raw = {}
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        servers = [Ftpshd(work), Pyftpdlib(work), Vsftpd(work)]
        names = [s.name for s in servers]

        def log(msg):
            print(f"[{time.monotonic() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

        if "small" not in skip:
            log(f"small files: {args.files} x 4 KiB, {args.rounds} interleaved rounds")
            runs = {s.name: [] for s in servers}
            for r in range(args.rounds):
                for s in (servers if r % 2 == 0 else servers[::-1]):
                    runs[s.name].append(small_files(s, args.files, 4096))
                    s.clear()
            raw["small"] = runs
            for key, label, unit in [
                ("stor_per_s", f"{args.files} STOR of 4 KiB, one session (ftplib)", "files/s"),
                ("retr_per_s", f"{args.files} RETR of 4 KiB", "files/s"),
                ("dele_per_s", f"{args.files} DELE", "ops/s"),
            ]:
                rows.append((label, unit, True,
                             {n: statistics.median(x[key] for x in runs[n]) for n in names}))
            if args.also_durable:
                log("small files with ftpshd --fsync-uploads always")
                durable = Ftpshd(work, ["--fsync-uploads", "always"])
                try:
                    d = [small_files(durable, args.files, 4096) for _ in range(args.rounds)]
                    durable.clear()
                finally:
                    durable.stop()
                raw["small_durable"] = d
                rows.append((f"{args.files} STOR of 4 KiB, ftpshd --fsync-uploads always", "files/s",
                             True, {names[0]: statistics.median(x["stor_per_s"] for x in d)}))

        if "ftpbench" not in skip:
            script = ftpbench_script(work)
            results = {}
            for s in servers:
                log(f"ftpbench -b all -n {args.clients} against {s.name}")
                results[s.name] = ftpbench(script, s, args.clients, work)
                s.clear()
            raw["ftpbench"] = results
            for key, _, label, unit, higher in FTPBENCH_ROWS:
                rows.append((label.format(n=args.clients), unit, higher,
                             {n: results[n].get(key) for n in names}))

        if "sessions" not in skip:
            res = {}
            for s in servers:
                n = args.vsftpd_sessions if isinstance(s, Vsftpd) else args.sessions
                log(f"{n} logged-in sessions against {s.name}")
                res[s.name] = sessions(s, n)
            raw["sessions"] = res
            label = lambda what: f"{args.sessions:,} logged-in sessions: {what}"  # noqa: E731
            rows.append((label("refused"), "", False, {n: res[n]["refused"] for n in names}))
            rows.append((label("time to log in all"), "s", False,
                         {n: res[n]["login_s"] * args.sessions / res[n]["sessions"]
                          for n in names}))
            rows.append((label("memory per session (PSS)"), "KiB", False,
                         {n: res[n]["kib_per_session"] for n in names}))
            rows.append((label("NOOP round trip p50"), "us", False,
                         {n: res[n]["noop_p50_us"] for n in names}))
            rows.append((label("NOOP round trip p99"), "us", False,
                         {n: res[n]["noop_p99_us"] for n in names}))

        if "big" not in skip:
            size = args.big_mib * 2**20
            src = os.path.join(work, "big.bin")
            log(f"creating a {args.big_mib} MiB file")
            random_file(src, size)
            for s in servers:
                dst = os.path.join(s.up, "big.bin")
                shutil.copyfile(src, dst)
                os.chmod(dst, 0o644)
                if isinstance(s, Vsftpd):
                    shutil.chown(dst, "ftp", "ftp")
            subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)
            settle_disk()
            retr = {s.name: [] for s in servers}
            log(f"curl RETR of {args.big_mib} MiB, {args.retr_rounds} interleaved rounds")
            for r in range(args.retr_rounds):
                for s in (servers if r % 2 == 0 else servers[::-1]):
                    retr[s.name].append(curl(["-o", "/dev/null", "-w",
                                              "%{speed_download} %{size_download}",
                                              url(s, "up/big.bin")], size))
            stor = {s.name: [] for s in servers}
            # Each timed upload below reuses the memory the previous one's
            # unlinked file gave back; the first would get memory nothing
            # has used for a while, which costs up to 10x more to write on
            # this VM (bench/RESULTS.md, "memory nothing used recently").
            # One untimed upload first, so no server gets that round.
            settle_disk()
            curl(["-T", src, "-w", "%{speed_upload} %{size_upload}",
                  url(servers[0], "up/up.bin")], size)
            os.unlink(os.path.join(servers[0].up, "up.bin"))
            log(f"curl STOR of {args.big_mib} MiB, {args.rounds} interleaved rounds")
            for r in range(args.rounds):
                for s in (servers if r % 2 == 0 else servers[::-1]):
                    settle_disk()
                    stor[s.name].append(curl(["-T", src, "-w", "%{speed_upload} %{size_upload}",
                                              url(s, "up/up.bin")], size))
                    os.unlink(os.path.join(s.up, "up.bin"))
            raw["retr_mib_s"], raw["stor_mib_s"] = retr, stor
            rows.append((f"curl RETR of {args.big_mib} MiB, median of {args.retr_rounds}", "MiB/s",
                         True, {n: statistics.median(retr[n]) for n in names}))
            rows.append((f"curl STOR of {args.big_mib} MiB, median of {args.rounds}", "MiB/s",
                         True, {n: statistics.median(stor[n]) for n in names}))
            os.unlink(src)

        if "iperf" not in skip:
            log("iperf3 loopback ceiling")
            ceiling = iperf3(5)
            raw["iperf3_mib_s"] = ceiling
            rows.append(("iperf3, one TCP stream over loopback (ceiling)", "MiB/s", True,
                         {"ceiling": ceiling}))
        if "s3" not in skip:
            log(f"S3 back-end: SeaweedFS {seaweedfs.version()}")
            weed = seaweedfs.SeaweedFs(work, "bench")
            extra.append(weed)
            s3 = Ftpshd(work, s3=weed)
            extra.append(s3)
            s3_rows = s3_section(servers[0], s3, work, args, log, raw)
            raw["s3"] = s3_rows
    finally:
        for s in servers + extra[::-1]:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    load_after = os.getloadavg()
    elapsed = time.monotonic() - started
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on "
          f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
          f"{elapsed / 60:.1f} min.\n")
    if rows:
        print(f"| workload | {' | '.join(names)} | ftpshd vs best peer |")
        print("|---|" + "---|" * (len(names) + 1))
    for label, unit, higher, values in rows:
        if "ceiling" in values:
            print(f"| {label} | {fmt(values['ceiling'], unit)} |" + " |" * len(names))
            continue
        cells = [fmt(values.get(n), unit) if n in values else "" for n in names]
        ours = values.get(names[0])
        peers = [values[n] for n in names[1:] if values.get(n) is not None]
        ratio = ""
        if ours is not None and peers and unit:
            best = max(peers) if higher else min(peers)
            if higher and best:
                ratio = f"{ours / best:.2f}×"
            elif not higher and ours:
                ratio = f"{best / ours:.2f}× (lower is better)"
        print(f"| {label} | {' | '.join(cells)} | {ratio} |")
    if vs := [n for n in names if n.startswith("vsftpd")]:
        if "sessions" not in skip:
            print(f"\n{vs[0]} forks per session: its session rows are measured with "
                  f"{args.vsftpd_sessions:,} sessions (login time scaled to {args.sessions:,}).")
    if rows:
        print("\nRatios: ftpshd ÷ best peer for rates; best peer ÷ ftpshd for times, memory "
              "and latency, so above 1 is ftpshd ahead either way. Medians of interleaved rounds.")
    if s3_rows:
        print(f"{chr(10) if rows else ''}ftpshd on the S3 back-end (`--storage s3://...`, SeaweedFS {seaweedfs.version()}, "
              "one `weed server` on 127.0.0.1) next to ftpshd on the local back-end, same run:\n")
        print("| workload | ftpshd, local back-end | ftpshd, S3 back-end | S3 ÷ local "
              "| SeaweedFS directly (curl --aws-sigv4) |")
        print("|---|---|---|---|---|")
        for label, unit, local, remote, direct in s3_rows:
            print(f"| {label} | {fmt(local, unit)} | {fmt(remote, unit)} | "
                  f"{remote / local:.2f}× | {fmt(direct, unit)} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
