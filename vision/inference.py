"""Loading detectors (once per process) and running them on a decoded image."""
import contextlib
import importlib
import logging
import os
import sys
import threading
import time

from . import detectors as registry

log = logging.getLogger(__name__)
os.environ.setdefault("YOLO_OFFLINE", "1")   # never download fonts, weights or hub files
os.environ.setdefault("YOLO_VERBOSE", "False")

_MODELS = {}
_LOCK = threading.Lock()
LOAD_COUNT = {}   # detector version -> times loaded in this process (tests check it stays 1)


@contextlib.contextmanager
def pickle_aliases(aliases):
    """Make classes findable where a checkpoint's pickle looks for them (e.g. ``__main__``)."""
    added = []
    try:
        for pickled_name, real_name in (aliases or {}).items():
            real = importlib.import_module(real_name)
            target = sys.modules.get(pickled_name)
            if target is None:
                target = importlib.import_module(pickled_name)
            for attr, value in vars(real).items():
                if isinstance(value, type) and not hasattr(target, attr):
                    setattr(target, attr, value)
                    added.append((target, attr))
        yield
    finally:
        for target, attr in added:
            delattr(target, attr)


def set_threads(n):
    """torch's intra-op threads for inference (ultralytics lowers them to cores - 1 on import)."""
    import torch
    n = n or os.cpu_count() or 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def to_bgr(image):
    """The array ultralytics would make from a PIL image, made once for all detectors."""
    import numpy as np
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def load(detector, device="cpu"):
    """The YOLO model of ``detector``, loaded the first time it is asked for in this process."""
    key = (detector.version, detector.path)  # the device is chosen per predict call
    model = _MODELS.get(key)
    if model is not None:
        return model
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            from ultralytics import YOLO
            started = time.monotonic()
            with pickle_aliases(detector.pickle_aliases):
                model = YOLO(detector.path, task="detect")
            if detector.shim:
                from . import shim
                shim.apply(detector.shim, model.model)
            names = set(model.names.values())
            missing = set(detector.classes) - names
            if missing:
                raise registry.RegistryError(
                    f"detector {detector.name}: weights have classes {sorted(names)}, registry expects {sorted(missing)}")
            _MODELS[key] = model
            LOAD_COUNT[detector.version] = LOAD_COUNT.get(detector.version, 0) + 1
            log.info("vision: loaded %s %s in %.1fs", detector.name, detector.version, time.monotonic() - started)
    return model


def detect(detector, image, device="cpu"):
    """Run ``detector`` on a PIL RGB image (or its ``to_bgr`` array); returns the boxes of mapped classes at or above
    the threshold: [{label, hazard_code, confidence, box: [x1, y1, x2, y2]}] (pixels)."""
    model = load(detector, device)
    result = model.predict(image, conf=detector.conf, imgsz=detector.imgsz, device=device, verbose=False)[0]
    out = []
    boxes = result.boxes
    for cls, conf, xyxy in zip(boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist()):
        label = result.names[int(cls)]
        code = detector.hazards.get(label)
        if code is None or conf < detector.conf:
            continue
        out.append({"label": label, "hazard_code": code, "confidence": round(float(conf), 4),
                    "box": [round(float(v), 1) for v in xyxy]})
    return out


def loaded():
    return dict(LOAD_COUNT)
