"""The detector registry: which YOLO weights run on every photo, and what their classes mean.

The registry is a JSON file (``vision/detectors.json`` in the repository, or the file named
by ``VISION_DETECTORS``). A site adds its own trained weights by adding an entry, e.g.::

    {"name": "site-fire-exit", "weights": "/srv/danbing/weights/fire_exit.pt",
     "classes": ["blocked", "clear"], "hazards": {"blocked": "fire_exit_blocked"}, "conf": 0.45}

``weights`` is a path (relative to the registry file) or ``package:<distribution>:<path inside
the installed package>``. The model version is the distribution version (or ``file``) plus
the first 12 hex digits of the weights' SHA-256 and a short hash of the settings that change
results (threshold, image size, class map), so retuning a threshold re-analyses photos
but an unchanged detector never analyses the same photo twice.
"""
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import taxonomy

DEFAULT_FILE = Path(__file__).resolve().parent / "detectors.json"


class RegistryError(ValueError):
    """The detector registry cannot be used as written."""


@dataclass(frozen=True)
class Detector:
    name: str
    weights: str                 # as written in the registry
    path: str                    # resolved file
    classes: tuple
    hazards: dict                # model class -> taxonomy code
    conf: float = 0.5
    imgsz: int = 640
    shim: str = None
    pickle_aliases: dict = field(default_factory=dict)  # module name in the pickle -> real module
    package_version: str = None
    weights_sha256: str = ""

    @property
    def version(self):
        settings = json.dumps([self.conf, self.imgsz, sorted(self.hazards.items())], ensure_ascii=False)
        return "%s+%s.%s" % (self.package_version or "file", self.weights_sha256[:12],
                             hashlib.sha256(settings.encode()).hexdigest()[:6])

    def to_dict(self):
        return {"name": self.name, "weights": self.weights, "version": self.version, "classes": list(self.classes),
                "hazards": {k: taxonomy.HAZARDS[v].name for k, v in self.hazards.items()}, "conf": self.conf}


# The shims of vision/shim.py, by name. Checked here without importing it: it imports torch,
# which would cost every web process half a gigabyte just to validate the registry.
SHIM_NAMES = frozenset({"yolov12_area_attention"})

_SHA_CACHE = {}


def _sha256_of(path):
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _resolve(weights, base):
    if weights.startswith("package:"):
        try:
            _, dist, resource = weights.split(":", 2)
        except ValueError:
            raise RegistryError(f"weights {weights!r}: use package:<distribution>:<path>") from None
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            raise RegistryError(f"weights {weights!r}: package {dist} is not installed") from None
        # Located through the distribution's files: importing the package may need extras.
        path = metadata.distribution(dist).locate_file(resource)
        return str(path), version
    path = Path(weights)
    if not path.is_absolute():
        path = Path(base) / path
    return str(path), None


def _parse(entry, base):
    if not isinstance(entry, dict):
        raise RegistryError("each detector must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name or len(name) > 40 or not name.replace("-", "").replace("_", "").isalnum():
        raise RegistryError(f"detector name {name!r}: letters, digits, - and _ only, at most 40")
    if not isinstance(entry.get("weights"), str):
        raise RegistryError(f"detector {name}: weights is required")
    hazards = entry.get("hazards") or {}
    classes = tuple(entry.get("classes") or ())
    for cls, code in hazards.items():
        if code not in taxonomy.HAZARDS:
            raise RegistryError(f"detector {name}: class {cls!r} maps to unknown hazard code {code!r}")
        if classes and cls not in classes:
            raise RegistryError(f"detector {name}: {cls!r} is not one of its classes {list(classes)}")
    conf = entry.get("conf", 0.5)
    if not isinstance(conf, (int, float)) or not 0 < conf < 1:
        raise RegistryError(f"detector {name}: conf must be between 0 and 1")
    imgsz = entry.get("imgsz", 640)
    if not isinstance(imgsz, int) or imgsz < 32 or imgsz % 32:
        raise RegistryError(f"detector {name}: imgsz must be a multiple of 32")
    path, version = _resolve(entry["weights"], base)
    if not os.path.isfile(path):
        raise RegistryError(f"detector {name}: weights file {path} not found")
    shim = entry.get("shim")
    if shim is not None:
        if shim not in SHIM_NAMES:
            raise RegistryError(f"detector {name}: unknown shim {shim!r}")
    return Detector(name=name, weights=entry["weights"], path=path, classes=classes, hazards=dict(hazards),
                    conf=float(conf), imgsz=imgsz, shim=shim, pickle_aliases=dict(entry.get("pickle_aliases") or {}),
                    package_version=version, weights_sha256=_sha256_of(path))


def load(path=None):
    """Read and check a registry file; returns the detectors in file order."""
    path = Path(path or DEFAULT_FILE)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RegistryError(f"detector registry {path}: {e}") from None
    entries = doc.get("detectors") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise RegistryError(f"detector registry {path}: expected {{\"detectors\": [...]}}")
    out = [_parse(e, path.parent) for e in entries if not (isinstance(e, dict) and e.get("enabled") is False)]
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise RegistryError(f"detector registry {path}: duplicate names")
    return out


_LOADED = {}


def active(app=None):
    """The detectors of the configured registry (read once per process and file)."""
    from flask import current_app
    app = app or current_app
    path = app.config.get("VISION_DETECTORS") or str(DEFAULT_FILE)
    if path not in _LOADED:
        _LOADED[path] = load(path)
    return _LOADED[path]


def by_name(name, app=None):
    for d in active(app):
        if d.name == name:
            return d
    return None
