"""Drives the interactive ftpsh through a real pseudo-terminal (pexpect).

Run by tests/pty.rs as: python3 pty_session.py PATH/TO/ftpsh
Exits 0 when every check passed; prints what it was waiting for otherwise.

Checks: the offline prompt, connme to the embedded server, Tab completion of
a remote file name and of a remote directory, history recall with the Up
arrow, history persisted under $XDG_STATE_HOME across runs, Ctrl-C at the
prompt clearing the line, a progress bar and Ctrl-C aborting a running
upload (ABOR) without leaving the shell, Ctrl-C at the password prompt
(cancels the login, terminal echo back), Ctrl-C during a command stalled
on a silent server (tests/fake_ftp.py), and Ctrl-D leaving.
"""
import atexit
import os
import re
import shutil
import sys
import subprocess
import tempfile
import time

import pexpect

ftpsh = sys.argv[1]
work = tempfile.mkdtemp(prefix="ftpsh-pty-work-")
state = tempfile.mkdtemp(prefix="ftpsh-pty-state-")
atexit.register(shutil.rmtree, work, True)
atexit.register(shutil.rmtree, state, True)
with open(os.path.join(work, "notes.txt"), "w") as f:
    f.write("hello\n")
# Sparse, so it costs no disk here; big enough to still be running when
# Ctrl-C arrives.
with open(os.path.join(work, "huge.bin"), "wb") as f:
    f.truncate(8 << 30)

env = dict(os.environ)
env.update(XDG_STATE_HOME=state, HOME=state, NO_COLOR="1", TERM="xterm")
env.pop("FTPSH_PASSWORD", None)
ONLINE = re.compile(r"ftpsh ftpsh@127\.0\.0\.1:\d+:(/[^>]*)> ")


def spawn():
    return pexpect.spawn(ftpsh, cwd=work, env=env, encoding="utf-8",
                         timeout=30, dimensions=(40, 200))


def step(child, what, pattern, exact=True):
    try:
        if exact:
            child.expect_exact(pattern)
        else:
            child.expect(pattern)
    except (pexpect.TIMEOUT, pexpect.EOF):
        print(f"FAILED waiting for {what}: {pattern!r}")
        print("--- last output ---")
        print(child.before)
        sys.exit(1)


c = spawn()
step(c, "offline prompt", "ftpsh (offline)> ")
c.sendline("connme")
step(c, "online prompt", ONLINE, exact=False)
c.sendline("mkdir Folder_Tes")
step(c, "mkdir", "created directory Folder_Tes")
step(c, "prompt", ONLINE, exact=False)
c.sendline("upload notes.txt remote-notes.txt")
step(c, "upload", "uploaded notes.txt -> remote-notes.txt")
step(c, "prompt", ONLINE, exact=False)

# Tab completes a remote file name (listed from the server)...
c.send("size rem")
c.send("\t")
step(c, "completed file name", "remote-notes.txt ")
c.send("\r")
step(c, "size output", "remote-notes.txt: 0.00 MiB (6 bytes)")
step(c, "prompt", ONLINE, exact=False)
# ...and a remote directory, with a trailing slash.
c.send("cd Fol")
c.send("\t")
step(c, "completed directory", "Folder_Tes/")
c.send("\r")
step(c, "cd output", "cd ok, cwd=/Folder_Tes")
step(c, "prompt in Folder_Tes", "ftpsh@", exact=True)
step(c, "prompt path", ":/Folder_Tes> ")
c.sendline("cd /")
step(c, "prompt", ONLINE, exact=False)

# A name with spaces completes with backslash escapes, never an open
# quote, so Enter runs it.
c.sendline('mkdir "Tax Returns 2023"')
step(c, "mkdir with spaces", "created directory Tax Returns 2023")
step(c, "prompt", ONLINE, exact=False)
c.send("cd Tax")
c.send("\t")
step(c, "escaped completion", "Tax\\ Returns\\ 2023/")
c.send("\r")
step(c, "cd into the spaced name", "cd ok, cwd=/Tax Returns 2023")
c.sendline("cd /")
step(c, "prompt", ONLINE, exact=False)

# Up arrow walks back through history: "cd /", the cd into the spaced
# name, its mkdir, "cd /", "cd Folder_Tes/", then the size line.
for _ in range(6):
    c.send("\x1b[A")
step(c, "recalled line", "size remote-notes.txt")
c.send("\r")
step(c, "size output again", "remote-notes.txt: 0.00 MiB (6 bytes)")
step(c, "prompt", ONLINE, exact=False)

# A progress bar on the TTY, then Ctrl-C aborts the transfer, not the shell.
c.sendline("upload huge.bin")
step(c, "progress bar", re.compile(r"huge\.bin \[[=> ]+\] "), exact=False)
c.sendintr()
step(c, "abort message", "upload: huge.bin: interrupted after ")
step(c, "prompt after abort", ONLINE, exact=False)
c.sendline("size remote-notes.txt")
step(c, "session still in step", "remote-notes.txt: 0.00 MiB (6 bytes)")
step(c, "prompt", ONLINE, exact=False)

# Ctrl-C at the password prompt cancels the login; the next line is a
# command again (not sent as a password) and the terminal echoes it.
c.sendline("byebye")
step(c, "offline", "ftpsh (offline)> ")
c.sendline("connme -u nobody")
step(c, "password prompt", "password for nobody@")
c.sendintr()
step(c, "login cancelled", "connme: no password for nobody@")
step(c, "offline prompt after cancel", "ftpsh (offline)> ")
c.sendline("lpwd")
step(c, "line shown after cancel", "lpwd")
step(c, "lpwd output", work)
step(c, "offline prompt", "ftpsh (offline)> ")

# Ctrl-C during a command stalled on a server that stopped answering
# (no reply to EPSV): back at the prompt within seconds, offline, usable.
fake = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "fake_ftp.py"),
                         "--stall", "EPSV"], stdout=subprocess.PIPE, text=True)
atexit.register(fake.kill)
fake_port = int(fake.stdout.readline())
c.sendline(f"connme ftp://u:p@127.0.0.1:{fake_port}/")
step(c, "fake prompt", f"ftpsh u@127.0.0.1:{fake_port}:/> ")
c.sendline("ls")
time.sleep(1.0)
c.sendintr()
started = time.monotonic()
step(c, "stalled ls interrupted", "ls: .: interrupted; disconnected")
step(c, "offline prompt after interrupt", "ftpsh (offline)> ")
if time.monotonic() - started > 10:
    print("FAILED: Ctrl-C took too long to return to the prompt")
    sys.exit(1)
c.sendline("lpwd")
step(c, "shell usable after interrupt", work)
fake.kill()
fake.wait()
c.sendline("connme")
step(c, "online prompt again", ONLINE, exact=False)

# Ctrl-C at the prompt clears the line; exit leaves.
c.send("rm something")
c.sendintr()
step(c, "prompt after Ctrl-C", ONLINE, exact=False)
c.sendline("exit")
c.expect(pexpect.EOF)
c.close()
if c.exitstatus != 0:
    print(f"FAILED: exit status {c.exitstatus}")
    sys.exit(1)

history = os.path.join(state, "ftpsh", "history")
with open(history) as f:
    saved = f.read()
if "size remote-notes.txt" not in saved:
    print(f"FAILED: history file lacks the size line:\n{saved}")
    sys.exit(1)

# A new shell has the history: Up shows the last line, then the one before.
c = spawn()
step(c, "offline prompt", "ftpsh (offline)> ")
c.send("\x1b[A")
step(c, "recalled exit", "exit")
c.send("\x1b[A")
step(c, "recalled older line", "connme")
c.sendintr()
step(c, "offline prompt", "ftpsh (offline)> ")
c.sendeof()
c.expect(pexpect.EOF)
c.close()
if c.exitstatus != 0:
    print(f"FAILED: exit status {c.exitstatus} after Ctrl-D")
    sys.exit(1)
print("pty session ok")
