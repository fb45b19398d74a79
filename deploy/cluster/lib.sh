# shellcheck shell=bash
# Shared by up.sh and down.sh (sourced, not run): the state directory's
# layout and stopping processes by the PIDs in their pidfiles.

CLUSTER_DIR="${FTPSH_CLUSTER_DIR:-/tmp/ftpsh-cluster}"
# Absolute: the processes' command lines name it (see pid_of).
case "$CLUSTER_DIR" in /*) ;; *) CLUSTER_DIR="$PWD/$CLUSTER_DIR" ;; esac
CLUSTER_DIR="${CLUSTER_DIR%/}"
PID_DIR="$CLUSTER_DIR/pids"
# shellcheck disable=SC2034 # used by up.sh
LOG_DIR="$CLUSTER_DIR/logs"
# shellcheck disable=SC2034 # used by up.sh
DATA_DIR="$CLUSTER_DIR/data"
# Seconds a process gets between SIGTERM and SIGKILL.
STOP_GRACE="${FTPSH_CLUSTER_STOP_GRACE:-10}"

say() { printf '%s\n' "$*" >&2; }

# pid_of NAME: the PID in pids/NAME.pid if that process is alive and is
# ours (its command line names a path in the state directory, so a PID
# the kernel gave to another process since is never signalled); nothing
# otherwise.
pid_of() {
    local file="$PID_DIR/$1.pid" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    [ -r "/proc/$pid/cmdline" ] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CLUSTER_DIR/"; then
        printf '%s\n' "$pid"
    fi
}

# stop_all: SIGTERM to every process with a pidfile, at most STOP_GRACE
# seconds for all of them to exit, SIGKILL to the rest; removes the
# pidfiles. Idempotent: no pidfile, nothing to do.
stop_all() {
    local f name pid left=() i
    [ -d "$PID_DIR" ] || return 0
    for f in "$PID_DIR"/*.pid; do
        [ -e "$f" ] || continue
        name="$(basename "$f" .pid)"
        pid="$(pid_of "$name")"
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            left+=("$pid")
        fi
    done
    for ((i = 0; i < STOP_GRACE * 10 && ${#left[@]} > 0; i++)); do
        local still=()
        for pid in "${left[@]}"; do
            if kill -0 "$pid" 2>/dev/null && ! is_zombie "$pid"; then still+=("$pid"); fi
        done
        left=("${still[@]+"${still[@]}"}")
        [ ${#left[@]} -eq 0 ] || sleep 0.1
    done
    for pid in "${left[@]+"${left[@]}"}"; do
        say "pid $pid did not exit within ${STOP_GRACE}s of SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$PID_DIR"/*.pid
}

# is_zombie PID: exited but not reaped yet (its parent is gone or busy).
is_zombie() {
    local state
    state="$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)"
    [ "$state" = Z ]
}
