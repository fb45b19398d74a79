#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stops what up.sh started: every process named by a pidfile in
# ${FTPSH_CLUSTER_DIR:-/tmp/ftpsh-cluster}/pids, by its PID (SIGTERM, at
# most FTPSH_CLUSTER_STOP_GRACE seconds, then SIGKILL), and removes the
# pidfiles. Idempotent; leaves data and logs in place (up.sh clears them).
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

stop_all
say "stopped the cluster in $CLUSTER_DIR"
