#!/usr/bin/env python3
"""STOU, MFMT, SITE and OPTS MLST with Python's stdlib ftplib against ftpshd.

- STOU through ftp.ntransfercmd("STOU"): the 150 reply names the file
  ("150 FILE: name", RFC 1123 4.1.2.9); the data sent lands in that file,
  twice under two different names.
- MFMT 20020717210715 then MLST and MDTM show the new time.
- OPTS MLST via ftp.mlsd(facts=...) returns exactly the selected facts.
- SITE HELP lists CHMOD; SITE CHMOD 600 changes the mode (checked by the
  caller on disk).
Prints "NAME1 NAME2" of the STOU files on its last line for the caller.

usage: extensions.py HOST PORT USER PASSWORD
"""

import ftplib
import sys


def stou(ftp, data):
    """Sends STOU with ntransfercmd, returns the name from the 150 reply."""
    replies = []
    getresp = ftp.getresp

    def recording():
        resp = getresp()
        replies.append(resp)
        return resp

    ftp.getresp = recording
    try:
        conn, _ = ftp.ntransfercmd("STOU")
        with conn:
            conn.sendall(data)
    finally:
        ftp.getresp = getresp
    final = ftp.voidresp()
    assert final.startswith("226"), final
    opening = replies[-1]
    assert opening.startswith("150 FILE: "), opening
    return opening[len("150 FILE: "):]


def main():
    host, port, user, password = sys.argv[1:5]
    ftp = ftplib.FTP()
    ftp.connect(host, int(port), timeout=60)
    ftp.login(user, password)
    ftp.voidcmd("TYPE I")
    first = stou(ftp, b"first unique upload\n")
    second = stou(ftp, b"second unique upload\n")
    assert first != second, (first, second)

    resp = ftp.sendcmd("MFMT 20020717210715 " + first)
    assert resp == "213 Modify=20020717210715; /" + first, resp
    mlst = ftp.sendcmd("MLST " + first)
    assert "modify=20020717210715;" in mlst, mlst
    assert ftp.sendcmd("MDTM " + first) == "213 20020717210715"

    # OPTS MLST (RFC 3659 7.9) through ftplib's mlsd(facts=...): only the
    # selected facts come back, and FEAT stars them.
    entries = dict(ftp.mlsd("", facts=["unix.mode", "unique", "nosuch"]))
    assert set(entries) == {first, second}, entries
    for facts in entries.values():
        assert set(facts) == {"unix.mode", "unique"}, facts
    assert entries[first]["unique"] != entries[second]["unique"], entries
    feat = ftp.sendcmd("FEAT")
    assert " MLST type;size;modify;perm;unique*;unix.mode*;" in feat, feat
    try:
        ftp.sendcmd("OPTS MLST type ;")
        raise AssertionError("malformed OPTS MLST accepted")
    except ftplib.error_perm as e:
        assert str(e).startswith("501"), e

    helptext = ftp.sendcmd("SITE HELP")
    assert "SITE CHMOD" in helptext, helptext
    resp = ftp.sendcmd("SITE CHMOD 600 " + first)
    assert resp.startswith("200"), resp
    try:
        ftp.sendcmd("SITE CHMOD 4777 " + first)
        raise AssertionError("setuid accepted")
    except ftplib.error_perm as e:
        assert str(e).startswith("501"), e
    ftp.quit()
    print(first, second)


if __name__ == "__main__":
    main()
