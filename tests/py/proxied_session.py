#!/usr/bin/env python3
"""A full session through a load balancer with Python's stdlib ftplib.

Connects from SOURCE (a loopback address of its own, so the server can tell
the client from the balancer) to HOST:PORT, logs in, prints the STAT line
that names the client address the server saw, uploads WORKDIR/up.bin as
up.bin over PASV, downloads it back as WORKDIR/back.bin over EPSV (ftplib
sends it when asked to with the af trick below), and lists the directory.
Both data connections go to HOST (ftplib ignores the address in a PASV
reply and uses the control connection's host, as EPSV does), i.e. through
the balancer. The caller compares the files byte for byte.

usage: proxied_session.py HOST PORT SOURCE USER PASSWORD WORKDIR
"""

import ftplib
import os
import socket
import sys


def main():
    host, port, source, user, password, work = sys.argv[1:7]
    ftp = ftplib.FTP(source_address=(source, 0))
    ftp.connect(host, int(port), timeout=60)
    ftp.login(user, password)
    status = ftp.sendcmd("STAT")
    for line in status.splitlines():
        if "connected from" in line:
            print("STAT:", line.strip())
    with open(os.path.join(work, "up.bin"), "rb") as f:
        reply = ftp.storbinary("STOR up.bin", f)
    assert reply.startswith("226"), reply
    # ftplib uses EPSV when the control connection's family is IPv6;
    # pretend so for this transfer only (the data connection stays IPv4:
    # it goes to the control connection's host).
    ftp.af = socket.AF_INET6
    with open(os.path.join(work, "back.bin"), "wb") as f:
        reply = ftp.retrbinary("RETR up.bin", f.write)
    assert reply.startswith("226"), reply
    ftp.af = socket.AF_INET
    names = ftp.nlst()
    assert "up.bin" in names, names
    ftp.quit()
    print("proxied session ok")


if __name__ == "__main__":
    main()
