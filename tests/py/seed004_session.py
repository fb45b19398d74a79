#!/usr/bin/env python3
"""Seed 004's client session, with Python's stdlib ftplib, against ftpshd.

Seed 004 (product.md section 2) is a pyftpdlib server and an ftplib client:
banner 220, USER/PASS (530 on failure), PWD answers "/", LIST in passive
mode, RETR, STOR, CWD (550 when missing), binary mode. This script replays
that session and a little more (REST, SIZE, rename, delete, directories)
against the server at HOST PORT, logging in as USER/PASSWORD.

The caller (tests/tests/python_ftplib.rs) prepares the root:
  baca_saya.txt            the seed's demo file (content given in argv)
  Folder_Tes/catatan.bin   binary content, compared by the caller
and a local WORKDIR holding upload.bin. Downloads are written to WORKDIR
for the caller to compare byte for byte. Exit status 0 means every check
passed; any failed check raises, which exits non-zero with a traceback.

usage: seed004_session.py HOST PORT USER PASSWORD WORKDIR BACA_SAYA_TEXT
"""

import ftplib
import io
import os
import sys


def expect_error(code, func, *args):
    """Calls func(*args) and checks that the server refused with `code`."""
    try:
        func(*args)
    except ftplib.all_errors as e:
        text = str(e)
        assert text.startswith(str(code)), f"expected {code}, got {text!r}"
        return text
    raise AssertionError(f"expected a {code} reply from {func.__name__}{args}")


def main():
    host, port, user, password, workdir, baca_saya = sys.argv[1:7]
    port = int(port)

    # Wrong password: 530, and the server keeps the connection usable.
    ftp = ftplib.FTP()
    welcome = ftp.connect(host, port, timeout=30)
    assert welcome.startswith("220"), welcome
    expect_error(530, ftp.login, user, password + "-wrong")
    ftp.close()

    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=30)
    resp = ftp.login(user, password)
    assert resp.startswith("230"), resp
    ftp.set_pasv(True)
    assert ftp.sendcmd("TYPE I").startswith("200")

    # Chroot-style home: PWD answers "/".
    assert ftp.pwd() == "/", ftp.pwd()

    # LIST over passive mode: the seed's demo content is there.
    lines = []
    resp = ftp.retrlines("LIST", lines.append)
    assert resp.startswith("226"), resp
    assert any(line.endswith(" baca_saya.txt") for line in lines), lines
    assert any(line.startswith("d") and line.endswith(" Folder_Tes") for line in lines), lines
    assert sorted(ftp.nlst()) == ["Folder_Tes", "baca_saya.txt"], ftp.nlst()

    # RETR of the text file.
    buf = io.BytesIO()
    resp = ftp.retrbinary("RETR baca_saya.txt", buf.write)
    assert resp.startswith("226"), resp
    assert buf.getvalue().decode("utf-8") == baca_saya, buf.getvalue()

    # CWD into the folder, RETR a binary file to disk.
    resp = ftp.cwd("Folder_Tes")
    assert resp.startswith("250"), resp
    assert ftp.pwd() == "/Folder_Tes", ftp.pwd()
    with open(os.path.join(workdir, "catatan.bin"), "wb") as f:
        ftp.retrbinary("RETR catatan.bin", f.write, blocksize=8192)
    size = ftp.size("catatan.bin")

    # REST + RETR: the tail from an offset (RFC 3659 section 5).
    with open(os.path.join(workdir, "catatan.tail"), "wb") as f:
        ftp.retrbinary("RETR catatan.bin", f.write, rest=size // 3)

    # STOR a binary file, then read it back.
    with open(os.path.join(workdir, "upload.bin"), "rb") as f:
        resp = ftp.storbinary("STOR unggah.bin", f, blocksize=65536)
    assert resp.startswith("226"), resp
    assert ftp.size("unggah.bin") == os.path.getsize(os.path.join(workdir, "upload.bin"))
    with open(os.path.join(workdir, "roundtrip.bin"), "wb") as f:
        ftp.retrbinary("RETR unggah.bin", f.write)

    # 550 on a missing directory and a missing file; the session goes on.
    expect_error(550, ftp.cwd, "Tidak_Ada")
    expect_error(550, ftp.retrbinary, "RETR tidak_ada.txt", lambda b: None)
    assert ftp.pwd() == "/Folder_Tes"

    # Directories, rename, delete.
    made = ftp.mkd("Baru")
    assert made.endswith("Baru"), f"MKD must answer the new path, got {made!r}"
    ftp.rename("unggah.bin", "Baru/dipindah.bin")
    assert "dipindah.bin" in ftp.nlst("Baru")
    ftp.delete("Baru/dipindah.bin")
    ftp.rmd("Baru")
    expect_error(550, ftp.delete, "Baru/dipindah.bin")

    ftp.cwd("..")
    assert ftp.pwd() == "/"
    resp = ftp.quit()
    assert resp.startswith("221"), resp
    print("seed004 session ok")


if __name__ == "__main__":
    main()
