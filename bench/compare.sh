#!/usr/bin/env bash
# ftpshd next to pyftpdlib 2.2.0 and vsftpd on 127.0.0.1, one run, one
# markdown table (see bench/compare.py for the rows and options, e.g.
# `bench/compare.sh --skip sessions`). Not a test: CI does not run it.
#
# needs: cargo, python3 3.11 with pyftpdlib 2.2.0 (ftpbench uses asyncore,
#        gone in 3.12), vsftpd, curl, iperf3; root, for vsftpd and for the
#        fd limits of the 10,000-session row. Takes about 5-10 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
if [ -z "${FTPSHD:-}" ]; then
    (cd "$REPO" && cargo build --release -p ftpsh-daemon)
fi
exec python3 "$HERE/compare.py" "$@"
