#!/usr/bin/env python3
"""pyftpdlib 2.2.0 as a benchmark peer: one user with all permissions over
ROOT on 127.0.0.1:PORT, without the 512-connection cap of
`python3 -m pyftpdlib` (the 10,000-session row needs more).

usage: bench/pyftpdlib_server.py PORT ROOT USER PASSWORD
"""

import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    port, root, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    logging.basicConfig(level=logging.WARNING)
    auth = DummyAuthorizer()
    auth.add_user(user, password, root, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = auth
    handler.banner = "pyftpdlib ready"
    server = FTPServer(("127.0.0.1", port), handler)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
