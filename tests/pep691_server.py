#!/usr/bin/env python3
"""A PEP 691 simple-index server for tests (tests/image.rs): serves the mirror that
tests/common/mod.rs::build_mirror writes, negotiating the content type as PEP 691 describes
(`index.json` as application/vnd.pypi.simple.v1+json when the client prefers it, `index.html`
otherwise) and logging `path content-type` per response to LOG.

Usage: pep691_server.py ROOT PORT LOG
"""
import http.server
import os
import sys

JSON = "application/vnd.pypi.simple.v1+json"


def prefers_json(accept):
    best, best_q = None, -1.0
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = fields[0], q
    return best == JSON


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        rel = self.path.split("?", 1)[0].lstrip("/")
        path = os.path.join(ROOT, rel)
        if os.path.isdir(path):
            if prefers_json(self.headers.get("Accept", "")):
                path, ctype = os.path.join(path, "index.json"), JSON
            else:
                path, ctype = os.path.join(path, "index.html"), "text/html"
        else:
            ctype = "application/octet-stream"
        if not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(LOG, "a") as log:
            log.write(f"/{rel} {ctype}\n")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ROOT, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
