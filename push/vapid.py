"""VAPID keys: generated on first run into instance/, public key served to the PWA."""
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02, b64urlencode


def load_or_create(instance_dir) -> Vapid02:
    path = os.path.join(instance_dir, "vapid_private.pem")
    if not os.path.exists(path):
        os.makedirs(instance_dir, exist_ok=True)
        # Generated with cryptography directly: py-vapid's generate_keys() passes the curve
        # class where cryptography >= 42 wants an instance.
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        # Write atomically so two processes starting at once never see half a key.
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(tmp, path)  # fails if another process won the race; theirs stays
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return Vapid02.from_file(path)


def application_server_key(vapid: Vapid02) -> str:
    """The public key in the form PushManager.subscribe() takes (uncompressed point, base64url)."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64urlencode(raw)


def get(app) -> Vapid02:
    v = app.extensions.get("danbing_vapid")
    if v is None:
        v = app.extensions["danbing_vapid"] = load_or_create(app.config["INSTANCE_DIR"])
    return v
