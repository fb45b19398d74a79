"""A small misbehaving FTP server for ftpsh's robustness tests.

    python3 fake_ftp.py [--stall STEP] [--no-features]

Listens on 127.0.0.1, port 0, and prints the port on the first line of
stdout. It speaks just enough FTP for ftpsh's login and `pwd`, `ls`,
`size`, `cat`: USER, PASS, TYPE, FEAT, HELP, PWD, CWD, SIZE, EPSV, LIST,
MLSD, RETR, NOOP, QUIT. The file `a.txt` holds `hello\\n`.

--stall STEP: at STEP the server stops answering, with the connection left
open, as a hung server does. STEP is one of: greeting, USER, PASS, TYPE,
FEAT, PWD, EPSV (no reply to EPSV), DATA (150 sent, no data and no
226 ever), or a number N: the N-th command of the session (1-based) gets
no reply.
--drop-after N: the first RETR of big.bin (1 MiB, byte i is i % 251)
sends N bytes and then closes the data and the control connection, as a
server that dies mid-transfer does; later RETRs (with REST, RFC 3659 §5,
for a resume) are served in full.
--no-features: FEAT is answered with the one-line `211 No features`
(RFC 2389 §3.2).

Each connection is served on a thread; the process runs until killed.
"""
import socket
import sys
import threading

STALL = None
NO_FEATURES = False
DROP_AFTER = None
dropped = threading.Event()
args = sys.argv[1:]
while args:
    a = args.pop(0)
    if a == "--stall":
        STALL = args.pop(0)
    elif a == "--drop-after":
        DROP_AFTER = int(args.pop(0))
    elif a == "--no-features":
        NO_FEATURES = True
    else:
        sys.exit(f"unknown argument {a}")

CONTENT = b"hello\n"
BIG = bytes(i % 251 for i in range(1 << 20))
FILES = {"a.txt": CONTENT, "big.bin": BIG}


def hang(conn):
    # Keep the socket open and silent until the client gives up.
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def serve(conn):
    f = conn.makefile("rb")

    def send(line):
        conn.sendall(line.encode() + b"\r\n")

    if STALL == "greeting":
        return hang(conn)
    send("220 fake ftp")
    data_listener = None
    rest = 0
    count = 0
    while True:
        raw = f.readline()
        if not raw:
            return
        count += 1
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if STALL == verb or STALL == str(count):
            return hang(conn)
        if verb == "USER":
            send("331 password please")
        elif verb == "PASS":
            send("230 logged in")
        elif verb == "TYPE":
            send("200 type set")
        elif verb == "FEAT":
            if NO_FEATURES:
                send("211 No features")
            else:
                send("211-Features:")
                send(" EPSV")
                send(" REST STREAM")
                send(" SIZE")
                send("211 End")
        elif verb == "HELP":
            send("214 no help")
        elif verb == "PWD":
            send('257 "/" is the current directory')
        elif verb == "CWD":
            send("250 ok")
        elif verb == "SIZE":
            if arg in FILES:
                send(f"213 {len(FILES[arg])}")
            else:
                send("550 no such file")
        elif verb == "REST":
            rest = int(arg)
            send(f"350 restarting at {rest}")
        elif verb == "EPSV":
            data_listener = socket.socket()
            data_listener.bind(("127.0.0.1", 0))
            data_listener.listen(1)
            send(f"229 Entering Extended Passive Mode (|||{data_listener.getsockname()[1]}|)")
        elif verb in ("LIST", "MLSD", "NLST", "RETR"):
            if data_listener is None:
                send("425 use EPSV first")
                continue
            if verb == "RETR" and arg not in FILES:
                send("550 no such file")
                continue
            send("150 opening data connection")
            data, _ = data_listener.accept()
            if STALL == "DATA":
                return hang(conn)
            if verb == "RETR":
                body = FILES[arg][rest:]
                rest = 0
                if arg == "big.bin" and DROP_AFTER is not None and not dropped.is_set():
                    dropped.set()
                    data.sendall(body[:DROP_AFTER])
                    data.close()
                    conn.close()
                    return
                data.sendall(body)
            else:
                data.sendall(b"-rw-r--r-- 1 u g 6 Jan 01 2024 a.txt\r\n")
            data.close()
            data_listener.close()
            data_listener = None
            send("226 done")
        elif verb == "NOOP":
            send("200 ok")
        elif verb == "QUIT":
            send("221 bye")
            return
        else:
            send("502 not implemented")


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(8)
print(listener.getsockname()[1], flush=True)
while True:
    c, _ = listener.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
