"""The detectors themselves: registry, taxonomy, the YOLOv12 shim, real models on real photos."""
import json

import pytest
import torch
from PIL import Image

from tests.vision_helpers import BUS, ZIDANE
from vision import detectors, inference, shim, taxonomy


@pytest.fixture(scope="session")
def default_detectors():
    return {d.name: d for d in detectors.load()}


@pytest.fixture(scope="session")
def bus_results(default_detectors):
    """Each default model run once on bus.jpg (models stay loaded for the whole run)."""
    image = Image.open(BUS).convert("RGB")
    return {name: inference.detect(d, image) for name, d in default_detectors.items()}


def test_taxonomy_uses_the_legal_clause_map_codes():
    from legal.matching import clause_map
    hazards = clause_map()["hazards"]
    assert set(taxonomy.HAZARDS) == set(hazards)
    for code, h in taxonomy.HAZARDS.items():
        assert h.name == hazards[code]["name"]
        assert h.violation == hazards[code]["violation"], code
        assert h.severity in taxonomy.SEVERITIES and h.kind in taxonomy.KINDS
    assert taxonomy.get("person_down").kind == "emergency"
    assert taxonomy.clauses("no_helmet")["violated"] == ["《中华人民共和国安全生产法》第四十五条"]
    assert taxonomy.clauses("person_down") == {"violated": [], "penalty": []}


def test_default_registry_names_weights_classes_and_codes(default_detectors):
    assert set(default_detectors) == {"helmet", "fire", "fall"}
    helmet = default_detectors["helmet"]
    assert helmet.hazards == {"Without Helmet": "no_helmet"} and helmet.shim == "yolov12_area_attention"
    assert helmet.package_version == "2.1.0" and helmet.path.endswith("helmet_detector_pkg/weights/best.pt")
    assert default_detectors["fire"].hazards == {"fire": "open_fire", "smoke": "smoke"}
    assert default_detectors["fall"].hazards == {"Fall": "person_down"}
    # The version names the weights and the settings that change results.
    assert helmet.version.startswith("2.1.0+" + helmet.weights_sha256[:12])
    assert len({d.version for d in default_detectors.values()}) == 3


def test_site_weights_are_added_by_configuration_alone(tmp_path, default_detectors):
    site = tmp_path / "detectors.json"
    fall = default_detectors["fall"]
    site.write_text(json.dumps({"detectors": [
        {"name": "site-extinguisher", "weights": fall.path, "classes": ["Normal", "Fall"],
         "hazards": {"Fall": "extinguisher_missing"}, "conf": 0.4}]}), encoding="utf-8")
    (d,) = detectors.load(site)
    assert d.name == "site-extinguisher" and d.package_version is None and d.version.startswith("file+")
    assert d.hazards == {"Fall": "extinguisher_missing"}


@pytest.mark.parametrize("entry, message", [
    ({"name": "x", "weights": "nope.pt"}, "not found"),
    ({"name": "x", "weights": "package:no-such-dist:x/y.pt"}, "not installed"),
    ({"name": "x", "weights": "package:helmet-detector:helmet_detector_pkg/weights/best.pt",
      "hazards": {"Without Helmet": "no_such_code"}}, "unknown hazard code"),
    ({"name": "x", "weights": "package:helmet-detector:helmet_detector_pkg/weights/best.pt", "conf": 2}, "conf"),
])
def test_registry_errors_are_clear(tmp_path, entry, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"detectors": [entry]}))
    with pytest.raises(detectors.RegistryError, match=message):
        detectors.load(path)


# ---- the YOLOv12 area-attention shim -------------------------------------------------------

class ForkAAttn(torch.nn.Module):
    """Area attention as the YOLOv12 fork computes it: ``qk`` (queries, then keys) and ``v``."""

    def __init__(self, dim, num_heads, area):
        from ultralytics.nn.modules.conv import Conv
        super().__init__()
        self.area, self.num_heads, self.head_dim = area, num_heads, dim // num_heads
        self.qk = Conv(dim, dim * 2, 1, act=False)
        self.v = Conv(dim, dim, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 5, 1, 2, g=dim, act=False)

    def forward(self, x):
        B, C, H, W = x.shape
        N = H * W
        qk = self.qk(x).flatten(2).transpose(1, 2)
        v = self.v(x)
        pp = self.pe(v)
        v = v.flatten(2).transpose(1, 2)
        if self.area > 1:
            qk = qk.reshape(B * self.area, N // self.area, C * 2)
            v = v.reshape(B * self.area, N // self.area, C)
            B, N, _ = qk.shape
        q, k = qk.split([C, C], dim=2)
        q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 3, 1)
        k = k.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 3, 1)
        v = v.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 3, 1)
        attn = ((q.transpose(-2, -1) @ k) * (self.head_dim ** -0.5)).softmax(dim=-1)
        x = (v @ attn.transpose(-2, -1)).permute(0, 3, 1, 2)
        if self.area > 1:
            x = x.reshape(B // self.area, N * self.area, C)
            B, N, _ = x.shape
        x = x.reshape(B, H, W, C).permute(0, 3, 1, 2)
        return self.proj(x + pp)


@pytest.mark.parametrize("dim, heads, area", [(64, 2, 4), (96, 3, 1)])
def test_shim_turns_fork_area_attention_into_mainline_with_identical_output(dim, heads, area):
    from ultralytics.nn.modules.block import AAttn
    torch.manual_seed(0)
    fork = ForkAAttn(dim, heads, area)
    for m in fork.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    fork.eval()
    x = torch.randn(2, dim, 8, 8)
    expected = fork(x)
    # What unpickling a fork checkpoint gives: a mainline AAttn instance carrying the fork's layers.
    loaded = AAttn.__new__(AAttn)
    torch.nn.Module.__init__(loaded)
    loaded.area, loaded.num_heads, loaded.head_dim = area, heads, dim // heads
    loaded.qk, loaded.v, loaded.proj, loaded.pe = fork.qk, fork.v, fork.proj, fork.pe
    model = torch.nn.Sequential(loaded).eval()
    with pytest.raises(AttributeError):
        model(x)
    assert shim.apply("yolov12_area_attention", model) == 1
    assert hasattr(loaded, "qkv") and not hasattr(loaded, "qk")
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
    assert shim.apply("yolov12_area_attention", model) == 0  # idempotent


# ---- real models on real photos ---------------------------------------------------------

def test_helmet_detector_flags_no_helmet_on_bus(bus_results):
    heads = [d for d in bus_results["helmet"] if d["hazard_code"] == "no_helmet"]
    assert len(heads) >= 1, bus_results["helmet"]
    assert all(d["label"] == "Without Helmet" and d["confidence"] >= 0.5 for d in heads)
    assert max(d["confidence"] for d in heads) > 0.7
    x1, y1, x2, y2 = heads[0]["box"]
    assert 0 <= x1 < x2 <= 810 and 0 <= y1 < y2 <= 1080


def test_no_fire_and_nobody_down_on_bus(bus_results):
    assert [d for d in bus_results["fire"] if d["hazard_code"] == "open_fire"] == []
    assert bus_results["fire"] == []        # smoke stays under its 0.5 threshold too
    assert bus_results["fall"] == []


def test_fire_threshold_keeps_zidane_smoke_out(default_detectors, bus_results):
    image = Image.open(ZIDANE).convert("RGB")
    assert inference.detect(default_detectors["fire"], image) == []


def test_each_model_is_loaded_once_per_process(default_detectors, bus_results):
    image = Image.open(BUS).convert("RGB")
    inference.detect(default_detectors["helmet"], image)
    counts = inference.loaded()
    assert all(counts[d.version] == 1 for d in default_detectors.values()), counts


def test_fire_checkpoint_classes_found_where_the_pickle_looks(default_detectors, bus_results):
    # The checkpoint was pickled from a training script: its layers are "__main__.FasterNetC2f".
    assert default_detectors["fire"].pickle_aliases == {"__main__": "fire_detector.modules"}
    model = inference.load(default_detectors["fire"])
    kinds = {type(m).__module__ + "." + type(m).__name__ for m in model.model.modules()}
    assert "fire_detector.modules.FasterNetC2f" in kinds


def test_pickle_aliases_are_temporary():
    import types
    import sys
    sys.modules["vision_pickled_elsewhere"] = types.ModuleType("vision_pickled_elsewhere")
    try:
        with inference.pickle_aliases({"vision_pickled_elsewhere": "vision.taxonomy"}):
            assert sys.modules["vision_pickled_elsewhere"].Hazard is taxonomy.Hazard
        assert not hasattr(sys.modules["vision_pickled_elsewhere"], "Hazard")
    finally:
        del sys.modules["vision_pickled_elsewhere"]


def test_registry_names_every_shim_and_validating_it_does_not_load_torch():
    import subprocess
    import sys
    from vision import detectors, shim
    assert detectors.SHIM_NAMES == set(shim.SHIMS)
    # A web process validates the registry on every photo; it must not pay for torch.
    code = ("import sys; from vision import detectors; detectors.load(); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], env={**__import__("os").environ, "PYTHONPATH": "."}).returncode == 0
