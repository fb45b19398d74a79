#!/usr/bin/env bash
# pyftpdlib's published FTP benchmark (scripts/ftpbench of pyftpdlib 2.2.0)
# against ftpshd and against pyftpdlib 2.2.0 itself, on 127.0.0.1, same run.
# ftpbench needs a user with write permission, which is why vsftpd (here
# anonymous read-only) is not in this one; bench/compare.sh has all three.
#
# usage: bench/ftpbench.sh [CLIENTS] [FILE_SIZE]      (default 200 10M)
# needs: target/release/ftpshd, python3 3.11 (ftpbench uses asyncore, gone
#        in 3.12), pyftpdlib 2.2.0 installed, and the ftpbench script:
#        FTPBENCH=/path/to/ftpbench, or it is taken from the pyftpdlib
#        2.2.0 sdist (`pip download`).
set -euo pipefail

CLIENTS=${1:-200}
SIZE=${2:-10M}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
FTPSHD=${FTPSHD:-$REPO/target/release/ftpshd}
[ -x "$FTPSHD" ] || { echo "missing $FTPSHD: cargo build --release -p ftpsh-daemon" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ftpbench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${FTPBENCH:-}" ]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: pyftpdlib==2.2.0 -d "$WORK/sdist"
    tar xzf "$WORK"/sdist/pyftpdlib-2.2.0.tar.gz -C "$WORK/sdist"
    FTPBENCH=$WORK/sdist/pyftpdlib-2.2.0/scripts/ftpbench
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_bench() { # NAME PORT
    echo "== $1 (ftpbench -b all -n $CLIENTS -s $SIZE)"
    # ftpbench writes its temp files in the current directory.
    (cd "$WORK/client" && timeout 900 python3 -W ignore "$FTPBENCH" -u alice -p secret \
        -H 127.0.0.1 -P "$2" -b all -n "$CLIENTS" -s "$SIZE")
}

mkdir -p "$WORK/ftpshd-root" "$WORK/pyftpdlib-root" "$WORK/client"
RUST_LOG=warn "$FTPSHD" --listen 127.0.0.1:0 --root "$WORK/ftpshd-root" --user alice:secret \
    --max-sessions $((CLIENTS + 50)) --max-sessions-per-ip $((CLIENTS + 50)) --allow-root \
    > "$WORK/ftpshd.out" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 300); do grep -q '^ftpshd listening on ' "$WORK/ftpshd.out" && break; sleep 0.1; done
PORT=$(sed -n 's/^ftpshd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/ftpshd.out")
run_bench ftpshd "$PORT"

PY_PORT=$(free_port)
python3 -m pyftpdlib -i 127.0.0.1 -p "$PY_PORT" -w -d "$WORK/pyftpdlib-root" \
    -u alice -P secret > /dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$PY_PORT),1)" 2>/dev/null && break
    sleep 0.1
done
run_bench "pyftpdlib 2.2.0" "$PY_PORT"
