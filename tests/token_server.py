#!/usr/bin/env python3
"""A Docker registry token server for tests (the bearer-token flow that Docker Hub, GHCR and
Harbor use): issues RS256 JWTs signed by a throw-away key whose self-signed certificate is
written to CERT for the registry's `rootcertbundle`, and embedded in each token's `x5c` header.

GET /token?service=S&scope=repository:NAME:ACTIONS... with Basic USER:PASSWORD grants every
requested scope; without credentials it grants nothing; with wrong ones it answers 401.

Usage: token_server.py PORT CERT ISSUER USER PASSWORD
"""
import base64
import datetime
import http.server
import json
import sys
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_key_and_cert(issuer):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/token":
            self.send_error(404)
            return
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        access = []
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, password) != (USER, PASSWORD):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.end_headers()
                return
            for scope in query.get("scope", []):
                for one in scope.split(" "):
                    kind, _, rest = one.partition(":")
                    name, _, actions = rest.rpartition(":")
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(CERT_DER).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": USER if access else "",
            "aud": query.get("service", [""])[0],
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "access": access,
        }
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{b64url(sig)}"
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    PORT, CERT_PATH, ISSUER, USER, PASSWORD = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    KEY, cert = make_key_and_cert(ISSUER)
    CERT_DER = cert.public_bytes(serialization.Encoding.DER)
    with open(CERT_PATH + ".tmp", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    import os

    os.replace(CERT_PATH + ".tmp", CERT_PATH)
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
