"""A push service on loopback, standing in for FCM/Mozilla autopush (which we cannot reach).

It checks what a real one checks — the VAPID JWT (ES256 signature by the key in ``k=``,
``aud`` equal to its own origin, ``exp`` in the future) — and decrypts each payload with
the subscription's private key (RFC 8291 aes128gcm) exactly as a browser would, so a test
sees the plaintext a phone would show. Each endpoint can be told to answer 201, 404, 410,
429 or 500.
"""
import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class FakeBrowserSubscription:
    """The key pair and auth secret a browser makes when PushManager.subscribe() runs."""

    def __init__(self, service, name):
        self.name = name
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        self.endpoint = f"{service.origin}/push/{name}"
        service.subscriptions[name] = self

    def json(self):
        pub = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                         serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64u(pub), "auth": b64u(self.auth_secret)}}


def verify_vapid(header: str, origin: str):
    """Raise ValueError unless ``Authorization: vapid t=JWT,k=KEY`` is valid for ``origin``."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError("not a vapid authorization")
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    token, key = parts["t"], parts["k"]
    head_b64, claims_b64, sig_b64 = token.split(".")
    if json.loads(unb64u(head_b64))["alg"] != "ES256":
        raise ValueError("alg must be ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(key))
    sig = unb64u(sig_b64)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    claims = json.loads(unb64u(claims_b64))
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
    if claims.get("exp", 0) <= time.time():
        raise ValueError("token expired")
    return claims


class PushService:
    def __init__(self):
        self.subscriptions = {}
        self.answers = {}        # name -> list of status codes to answer in turn (then 201)
        self.received = []       # dicts: name, payload (decrypted JSON), headers
        self.rejected = []       # (name, reason)
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = service._handle(self.path, self.headers, body)  # case-insensitive
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def subscribe(self, name):
        return FakeBrowserSubscription(self, name)

    def answer(self, name, *statuses):
        self.answers[name] = list(statuses)

    def _handle(self, path, headers, body):
        name = path.rsplit("/", 1)[-1]
        sub = self.subscriptions.get(name)
        if sub is None:
            return 404
        with self.lock:
            queued = self.answers.get(name)
            if queued:
                return queued.pop(0)
        try:
            verify_vapid(headers.get("Authorization", ""), self.origin)
            if headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("content encoding must be aes128gcm")
            plain = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth_secret,
                                     version="aes128gcm")
        except Exception as e:
            with self.lock:
                self.rejected.append((name, repr(e)))
            return 403
        with self.lock:
            self.received.append({"name": name, "payload": json.loads(plain), "ttl": headers.get("TTL"),
                                  "urgency": headers.get("Urgency")})
        return 201
