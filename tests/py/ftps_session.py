"""FTPS (RFC 4217) with Python's ftplib.FTP_TLS against ftpshd.

usage: ftps_session.py HOST PORT USER PASSWORD WORKDIR MODE

MODE:
  plain     - FTP_TLS with prot_p(); data connections do full handshakes
              (ftplib never resumes: cpython issue 63699).
  reuse     - a subclass that resumes the control connection's TLS session
              on every data connection (what vsftpd's require_ssl_reuse
              needs).
  foreign   - data connections resume the TLS session of *another* control
              connection; prints "refused <code>" when the server refuses.
  refused   - like plain, but expects the server to refuse the data
              connection; prints "refused <code>" with the control reply.
  active    - like reuse, in active mode (ftplib sends PORT; the server
              connects out and the client is still the TLS client).
  clear     - logs in over TLS but keeps PROT C; prints the outcome of a
              listing ("refused <code>") and the reply code of PROT C.

WORKDIR holds up.bin (uploaded as up.bin, downloaded back as down.bin).
Prints "ftps session ok" at the end.
"""

import ftplib
import os
import ssl
import sys


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """Resumes a chosen TLS session (by default the control connection's)
    on each data connection."""

    session_source = None

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            source = self.session_source or self.sock
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=source.session
            )
        return conn, size


def make_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# One context for every connection: a TLS session may only be offered
# through the context that made it.
CONTEXT = make_context()


def login(cls, host, port, user, password, prot_p=True):
    ftp = cls(context=CONTEXT, timeout=60)
    ftp.connect(host, port)
    ftp.login(user, password)  # sends AUTH TLS first
    if prot_p:
        ftp.prot_p()
    return ftp


def expect_refusal(ftp, transfer):
    """Runs `transfer`; "refused CODE" with the control connection's
    reply when the server refused the data connection, else "accepted"."""
    try:
        transfer()
        return "accepted"
    except ftplib.error_perm as e:
        return "refused " + str(e)[:3]
    except OSError:
        pass  # the data connection was closed under the client
    try:
        ftp.voidresp()
        return "accepted"
    except ftplib.error_perm as e:
        return "refused " + str(e)[:3]


def main():
    host, port, user, password, work, mode = sys.argv[1:7]
    port = int(port)
    cls = ftplib.FTP_TLS if mode in ("plain", "refused") else ReusingFTP_TLS
    ftp = login(cls, host, port, user, password, prot_p=mode != "clear")
    if mode == "active":
        ftp.set_pasv(False)
    if mode == "clear":
        print("listing", expect_refusal(ftp, ftp.nlst))
        ftp.voidcmd("PBSZ 0")
        try:
            print("prot c", ftp.voidcmd("PROT C")[:3])
        except ftplib.error_perm as e:
            print("prot c", str(e)[:3])
        ftp.quit()
        return
    if mode == "foreign":
        other = login(ftplib.FTP_TLS, host, port, user, password)
        other.voidcmd("NOOP")  # reads the TLS 1.3 tickets
        ftp.session_source = other.sock
        print(expect_refusal(ftp, ftp.nlst))
        other.quit()
        return
    if mode == "refused":
        with open(os.path.join(work, "up.bin"), "rb") as f:
            print(expect_refusal(ftp, lambda: ftp.storbinary("STOR up.bin", f)))
        return
    with open(os.path.join(work, "up.bin"), "rb") as f:
        ftp.storbinary("STOR up.bin", f)
    with open(os.path.join(work, "down.bin"), "wb") as f:
        ftp.retrbinary("RETR up.bin", f.write)
    # Every data connection of the session resumes (reusable tickets),
    # not only the first few.
    for _ in range(8):
        names = ftp.nlst()
        assert "up.bin" in names, names
    # nlst() left the session in TYPE A, where SIZE is refused (550) as
    # pyftpdlib does: byte counts would not match the transfer.
    ftp.voidcmd("TYPE I")
    assert ftp.size("up.bin") == os.path.getsize(os.path.join(work, "up.bin"))
    ftp.quit()
    print("ftps session ok")


if __name__ == "__main__":
    main()
