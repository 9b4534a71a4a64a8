#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A plain HTTP/1.1 keep-alive server, unaware of ipcluster: it only
listen()s and accept()s, and answers every GET with its name.

  http_member.py NAME ADDR PORT
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = (NAME + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # Room for the connections a member's death brings at once.
    request_queue_size = 128
    daemon_threads = True


NAME = sys.argv[1]
Server((sys.argv[2], int(sys.argv[3])), Handler).serve_forever()
