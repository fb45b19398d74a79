#!/usr/bin/env bash
# RETR throughput of a 1 GiB file over loopback: ftpshd next to vsftpd on
# the same run, 5 rounds interleaved, `curl -o /dev/null`; medians in MiB/s
# and the ratio; iperf3's loopback TCP figure as the ceiling.
#
# usage: bench/retr-throughput.sh [ROUNDS] [SIZE_MIB]
# needs: target/release/ftpshd (cargo build --release -p ftpsh-daemon),
#        curl, vsftpd, iperf3, python3. Every server is started here on
#        127.0.0.1 and stopped by its PID.
set -euo pipefail

ROUNDS=${1:-5}
SIZE_MIB=${2:-1024}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
FTPSHD=${FTPSHD:-$REPO/target/release/ftpshd}
[ -x "$FTPSHD" ] || { echo "missing $FTPSHD: cargo build --release -p ftpsh-daemon" >&2; exit 1; }

WORK=$(mktemp -d /tmp/retr-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b/1048576}'; }

mkdir "$WORK/root" "$WORK/run"
chmod 755 "$WORK/root"
echo "creating a ${SIZE_MIB} MiB file of random bytes..."
head -c "$((SIZE_MIB * 1048576))" /dev/urandom > "$WORK/root/big.bin"
chmod 644 "$WORK/root/big.bin"
# Warm the page cache so both servers read from memory, not disk.
cat "$WORK/root/big.bin" > /dev/null

# ftpshd
RUST_LOG=warn "$FTPSHD" --listen 127.0.0.1:0 --root "$WORK/root" --user alice:secret --allow-root \
    > "$WORK/run/ftpshd.out" 2> "$WORK/run/ftpshd.err" &
PIDS+=($!)
for _ in $(seq 300); do
    grep -q '^ftpshd listening on ' "$WORK/run/ftpshd.out" && break
    sleep 0.1
done
FTPSHD_PORT=$(sed -n 's/^ftpshd listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/run/ftpshd.out")
[ -n "$FTPSHD_PORT" ] || { echo "ftpshd did not start" >&2; cat "$WORK/run/ftpshd.err" >&2; exit 1; }

# vsftpd, anonymous read-only over the same root
VS_PORT=$(free_port)
mkdir -p /var/run/vsftpd/empty
cat > "$WORK/run/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=$VS_PORT
anonymous_enable=YES
anon_root=$WORK/root
no_anon_password=YES
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
max_clients=0
max_per_ip=0
xferlog_enable=NO
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
ssl_enable=NO
EOF
/usr/sbin/vsftpd "$WORK/run/vsftpd.conf" 2> "$WORK/run/vsftpd.err" &
PIDS+=($!)
for _ in $(seq 300); do
    curl -s --max-time 2 "ftp://127.0.0.1:$VS_PORT/" >/dev/null 2>&1 && break
    sleep 0.1
done

FTPSHD_URL="ftp://alice:secret@127.0.0.1:$FTPSHD_PORT/big.bin"
VS_URL="ftp://127.0.0.1:$VS_PORT/big.bin"
: > "$WORK/run/ftpshd.speeds"
: > "$WORK/run/vsftpd.speeds"
# One download: prints its speed in bytes/s; fails unless all bytes came.
fetch() {
    local out speed size
    out=$(curl -s -o /dev/null --max-time 600 -w '%{speed_download} %{size_download}' "$1")
    read -r speed size <<< "$out"
    if [ "$size" != "$((SIZE_MIB * 1048576))" ]; then
        echo "$1: got $size bytes, want $((SIZE_MIB * 1048576))" >&2
        exit 1
    fi
    echo "$speed"
}
for round in $(seq "$ROUNDS"); do
    f=$(fetch "$FTPSHD_URL")
    v=$(fetch "$VS_URL")
    echo "$f" >> "$WORK/run/ftpshd.speeds"
    echo "$v" >> "$WORK/run/vsftpd.speeds"
    echo "round $round: ftpshd $(mib "$f") MiB/s, vsftpd $(mib "$v") MiB/s"
done
F_MED=$(median < "$WORK/run/ftpshd.speeds")
V_MED=$(median < "$WORK/run/vsftpd.speeds")

# iperf3: loopback TCP ceiling (one client, 5 s)
IP_PORT=$(free_port)
iperf3 -s -1 -B 127.0.0.1 -p "$IP_PORT" > /dev/null 2>&1 &
IPERF_PID=$!
PIDS+=($IPERF_PID)
sleep 0.5
IPERF_BPS=$(iperf3 -c 127.0.0.1 -p "$IP_PORT" -t 5 -J 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])' || echo 0)
IPERF_BYTES=$(awk -v b="$IPERF_BPS" 'BEGIN {printf "%.0f", b/8}')

echo
echo "RETR of a ${SIZE_MIB} MiB file, curl -o /dev/null, median of $ROUNDS interleaved rounds:"
echo "  ftpshd: $(mib "$F_MED") MiB/s"
echo "  vsftpd: $(mib "$V_MED") MiB/s"
echo "  ftpshd / vsftpd: $(awk -v a="$F_MED" -v b="$V_MED" 'BEGIN {printf "%.2f", a/b}')"
echo "  iperf3 loopback TCP (ceiling): $(mib "$IPERF_BYTES") MiB/s"
