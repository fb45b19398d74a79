#!/usr/bin/env python3
"""TYPE A round trip with Python's stdlib ftplib against ftpshd.

storlines() uploads WORKDIR/local.txt (LF line ends) in TYPE A, sending
every line with CRLF; retrlines() downloads it again line by line into
WORKDIR/lines.txt (written back with LF); and a raw TYPE A RETR through
ntransfercmd() saves the exact wire bytes to WORKDIR/wire.txt so the
caller can check that each LF went out as CRLF. Also checks that SIZE and
REST are refused in TYPE A (as pyftpdlib does) and work again in TYPE I.

usage: ascii_roundtrip.py HOST PORT USER PASSWORD WORKDIR
"""

import ftplib
import os
import sys


def main():
    host, port, user, password, work = sys.argv[1:6]
    ftp = ftplib.FTP()
    ftp.connect(host, int(port), timeout=60)
    ftp.login(user, password)
    with open(os.path.join(work, "local.txt"), "rb") as f:
        reply = ftp.storlines("STOR text.txt", f)
    assert reply.startswith("226"), reply

    with open(os.path.join(work, "lines.txt"), "w", encoding="utf-8", newline="\n") as out:
        reply = ftp.retrlines("RETR text.txt", lambda line: out.write(line + "\n"))
    assert reply.startswith("226"), reply

    ftp.voidcmd("TYPE A")
    for cmd, code in (("SIZE text.txt", "550"), ("REST 10", "501")):
        try:
            ftp.sendcmd(cmd)
            raise AssertionError(cmd + " accepted in TYPE A")
        except ftplib.error_perm as e:
            assert str(e).startswith(code), e
    conn = ftp.transfercmd("RETR text.txt")
    with conn, open(os.path.join(work, "wire.txt"), "wb") as out:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            out.write(chunk)
    reply = ftp.voidresp()
    assert reply.startswith("226"), reply

    ftp.voidcmd("TYPE I")
    size = ftp.size("text.txt")
    assert size == os.path.getsize(os.path.join(work, "local.txt")), size
    ftp.quit()
    print("ascii round trip ok")


if __name__ == "__main__":
    main()
