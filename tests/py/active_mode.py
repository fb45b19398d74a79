#!/usr/bin/env python3
"""Active mode with Python's stdlib ftplib against ftpshd.

ftplib.set_pasv(False) makes ftplib listen and send PORT (IPv4) before each
transfer, so the server connects to it. Uploads WORKDIR/up.bin as up.bin,
downloads it back as WORKDIR/back.bin, lists the directory, and checks that
the listing names the file. The caller compares the files byte for byte.

usage: active_mode.py HOST PORT USER PASSWORD WORKDIR
"""

import ftplib
import os
import sys


def main():
    host, port, user, password, work = sys.argv[1:6]
    ftp = ftplib.FTP()
    ftp.connect(host, int(port), timeout=60)
    ftp.login(user, password)
    ftp.set_pasv(False)
    with open(os.path.join(work, "up.bin"), "rb") as f:
        reply = ftp.storbinary("STOR up.bin", f)
    assert reply.startswith("226"), reply
    with open(os.path.join(work, "back.bin"), "wb") as f:
        reply = ftp.retrbinary("RETR up.bin", f.write)
    assert reply.startswith("226"), reply
    names = ftp.nlst()
    assert "up.bin" in names, names
    ftp.quit()
    print("active mode ok")


if __name__ == "__main__":
    main()
