#!/usr/bin/env bash
# FTPS vs plain FTP throughput over loopback, ftpshd next to vsftpd on the
# same run: RETR and STOR of one file with curl (`--ssl-reqd`: AUTH TLS,
# PBSZ 0, PROT P; curl's default TLS 1.3), rounds interleaved; medians in
# MiB/s.
#
# ftpshd moves plain RETR with sendfile(2); over TLS it reads the file in
# 64 KiB chunks and encrypts them with rustls (ring, AES-GCM) on the event
# loop thread. vsftpd uses OpenSSL in its per-session process. Kernel TLS
# (kTLS: the kernel encrypts, so sendfile works again and the copy through
# user space goes away) would take RETR most of the way back to the plain
# figure, but CONFIG_TLS is off on these machines.
#
# usage: bench/ftps-throughput.sh [ROUNDS] [SIZE_MIB]
# needs: target/release/ftpshd (cargo build --release -p ftpsh-daemon),
#        curl, vsftpd, openssl, python3. Every server is started here on
#        127.0.0.1 and stopped by its PID.
set -euo pipefail

ROUNDS=${1:-3}
SIZE_MIB=${2:-512}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
FTPSHD=${FTPSHD:-$REPO/target/release/ftpshd}
[ -x "$FTPSHD" ] || { echo "missing $FTPSHD: cargo build --release -p ftpsh-daemon" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ftps-bench.XXXXXX)
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

mkdir -p "$WORK/root/pub" "$WORK/run" "$WORK/local"
chmod 755 "$WORK/root"
chmod 777 "$WORK/root/pub"
echo "creating a ${SIZE_MIB} MiB file of random bytes..."
head -c "$((SIZE_MIB * 1048576))" /dev/urandom > "$WORK/root/big.bin"
chmod 644 "$WORK/root/big.bin"
cp "$WORK/root/big.bin" "$WORK/local/up.bin"
# Warm the page cache so both servers read from memory, not disk.
cat "$WORK/root/big.bin" "$WORK/local/up.bin" > /dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/run/key.pem" -out "$WORK/run/cert.pem" 2>/dev/null
chmod 644 "$WORK/run/key.pem"

# ftpshd: plain and explicit TLS on one listener.
RUST_LOG=warn "$FTPSHD" --listen 127.0.0.1:0 --root "$WORK/root" --user alice:secret --allow-root \
    --tls-cert "$WORK/run/cert.pem" --tls-key "$WORK/run/key.pem" \
    > "$WORK/run/ftpshd.out" 2> "$WORK/run/ftpshd.err" &
PIDS+=($!)
for _ in $(seq 300); do
    grep -q '^ftpshd listening on ' "$WORK/run/ftpshd.out" && break
    sleep 0.1
done
FTPSHD_PORT=$(sed -n 's/^ftpshd listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/run/ftpshd.out")
[ -n "$FTPSHD_PORT" ] || { echo "ftpshd did not start" >&2; cat "$WORK/run/ftpshd.err" >&2; exit 1; }

# vsftpd: anonymous, uploads into pub/, TLS allowed but not forced.
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
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
anon_umask=022
pasv_enable=YES
pasv_address=127.0.0.1
max_clients=0
max_per_ip=0
xferlog_enable=NO
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
require_ssl_reuse=YES
rsa_cert_file=$WORK/run/cert.pem
rsa_private_key_file=$WORK/run/key.pem
EOF
/usr/sbin/vsftpd "$WORK/run/vsftpd.conf" 2> "$WORK/run/vsftpd.err" &
PIDS+=($!)
for _ in $(seq 300); do
    curl -s --max-time 2 "ftp://127.0.0.1:$VS_PORT/" >/dev/null 2>&1 && break
    sleep 0.1
done

WANT=$((SIZE_MIB * 1048576))
# One transfer: prints its speed in bytes/s; fails unless all bytes moved.
# $1 = retr|stor, $2 = URL, $3.. = more curl flags.
transfer() {
    local kind=$1 url=$2 out speed size
    shift 2
    if [ "$kind" = retr ]; then
        out=$(curl -s "$@" -o /dev/null --max-time 900 -w '%{speed_download} %{size_download}' "$url")
    else
        out=$(curl -s "$@" -T "$WORK/local/up.bin" --max-time 900 -w '%{speed_upload} %{size_upload}' "$url")
    fi
    read -r speed size <<< "$out"
    if [ "$size" != "$WANT" ]; then
        echo "$kind $url: moved $size bytes, want $WANT" >&2
        exit 1
    fi
    echo "$speed"
}

F="ftp://alice:secret@127.0.0.1:$FTPSHD_PORT"
V="ftp://127.0.0.1:$VS_PORT"
CASES=(
    "ftpshd-plain-retr retr $F/big.bin"
    "ftpshd-tls-retr retr $F/big.bin tls"
    "vsftpd-plain-retr retr $V/big.bin"
    "vsftpd-tls-retr retr $V/big.bin tls"
    "ftpshd-plain-stor stor $F/pub/up.bin"
    "ftpshd-tls-stor stor $F/pub/up.bin tls"
    "vsftpd-plain-stor stor $V/pub/up-plain.bin"
    "vsftpd-tls-stor stor $V/pub/up-tls.bin tls"
)
for round in $(seq "$ROUNDS"); do
    line="round $round:"
    for c in "${CASES[@]}"; do
        read -r name kind url tls <<< "$c"
        if [ -n "${tls:-}" ]; then
            s=$(transfer "$kind" "$url" --ssl-reqd -k)
        else
            s=$(transfer "$kind" "$url")
        fi
        echo "$s" >> "$WORK/run/$name.speeds"
        line="$line $name=$(mib "$s")"
        # vsftpd's anonymous uploads may not overwrite: remove them.
        rm -f "$WORK"/root/pub/up-*.bin
    done
    echo "$line"
done

echo
echo "${SIZE_MIB} MiB over loopback, curl, median of $ROUNDS interleaved rounds (MiB/s):"
printf '  %-8s %-6s %10s %10s %8s\n' server verb plain FTPS FTPS/plain
for server in ftpshd vsftpd; do
    for verb in retr stor; do
        p=$(median < "$WORK/run/$server-plain-$verb.speeds")
        t=$(median < "$WORK/run/$server-tls-$verb.speeds")
        printf '  %-8s %-6s %10s %10s %8s\n' "$server" "${verb^^}" "$(mib "$p")" "$(mib "$t")" \
            "$(awk -v a="$t" -v b="$p" 'BEGIN {printf "%.2f", a/b}')"
    done
done
