"""Shared helpers for the ftpsh benchmarks: start ftpshd and vsftpd on
127.0.0.1 (free ports, temp config), stop them by PID, read memory figures
from /proc. Benchmarks, not tests: they print figures, they assert nothing
about speed.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A port that was free a moment ago (vsftpd needs a fixed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_banner(port, deadline=30):
    """Returns once 127.0.0.1:port answers with a 220 banner; exits the
    benchmark if none came within `deadline` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no FTP banner on port {port} within {deadline} s")


def stop_process(proc, timeout=30):
    """SIGTERM to `proc` (by its PID), then SIGKILL if it has not exited
    within `timeout` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ftpshd_path():
    path = os.environ.get("FTPSHD", os.path.join(REPO, "target", "release", "ftpshd"))
    if not os.path.isfile(path):
        raise SystemExit(f"{path} missing: run `cargo build --release -p ftpsh-daemon` first")
    return path


class Ftpshd:
    """ftpshd --listen 127.0.0.1:0 over `root`, user alice:secret."""

    user, password = "alice", "secret"

    def __init__(self, root, extra=()):
        self.proc = subprocess.Popen(
            [ftpshd_path(), "--listen", "127.0.0.1:0", "--root", root,
             "--user", f"{self.user}:{self.password}",
             # Benchmarks run as root on CI machines; all sessions come from
             # one address.
             "--allow-root", "--max-sessions-per-ip", "100000", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "RUST_LOG": "warn"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.match(r"ftpshd listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
            if not line:
                break
        self.stop()
        raise SystemExit("ftpshd did not print its listening line")

    @property
    def pids(self):
        return [self.proc.pid]

    def stop(self):
        stop_process(self.proc)


class Vsftpd:
    """vsftpd in the foreground on 127.0.0.1:<free port>, anonymous
    read-only over `root`, passive mode, from a temp config file."""

    user, password = "anonymous", "bench@"

    def __init__(self, root):
        exe = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
        if not os.path.exists(exe):
            raise FileNotFoundError("vsftpd not installed")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="vsftpd-bench-")
        conf = os.path.join(self.dir, "vsftpd.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "listen=YES", "listen_ipv6=NO", "background=NO",
                "listen_address=127.0.0.1", f"listen_port={self.port}",
                "anonymous_enable=YES", f"anon_root={root}", "no_anon_password=YES",
                "local_enable=NO", "write_enable=NO",
                "pasv_enable=YES", "pasv_address=127.0.0.1",
                "max_clients=0", "max_per_ip=0",
                "idle_session_timeout=3600", "data_connection_timeout=600",
                "xferlog_enable=NO", "dirmessage_enable=NO", "use_localtime=NO",
                "seccomp_sandbox=NO", "secure_chroot_dir=/var/run/vsftpd/empty",
                "ssl_enable=NO", "",
            ]))
        os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
        self.proc = subprocess.Popen([exe, conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"vsftpd exited: {self.proc.stderr.read()!r}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("vsftpd did not answer")

    @property
    def pids(self):
        """The listener and every session process below it."""
        return [self.proc.pid] + descendants(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            # Session processes are its children; vsftpd's listener takes
            # them down with it when it gets SIGTERM, stragglers by PID.
            kids = descendants(self.proc.pid)
            stop_process(self.proc)
            for pid in kids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def status_kib(pid, field):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    """Proportional set size (shared pages divided among sharers), KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pids):
    return {
        "processes": len(pids),
        "rss_kib": sum(status_kib(p, "VmRSS") for p in pids),
        "pss_kib": sum(pss_kib(p) for p in pids),
    }
