"""Bring your own architecture: a plugin file (``--plugin``), the ``lethe.models`` entry point group, and
the CLI's ``inspect`` and ``unlearn`` with a bare checkpoint whose architecture the spec names."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.cli.main import main
from engine.models import create_model, registry

PLUGIN = '''
import torch
from torch import nn
from engine.models import register_module


class TinyNet(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.conv = nn.Conv2d(c, 6, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(6, k)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


@register_module("{name}")
def build(in_channels, image_size, num_classes):
    return TinyNet(in_channels, num_classes)
'''


class TinyNet(nn.Module):
    """The plugin's network, as its author would save it (``classifier`` head, no Lethe names)."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, 6, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(6, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


def test_plugin_file_registers_a_plain_module_for_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"tiny_{uuid.uuid4().hex[:6]}"
    plugin = tmp_path / "my_models.py"
    plugin.write_text(PLUGIN.replace("{name}", name))
    torch.manual_seed(0)
    src = TinyNet(1, 10).eval()
    torch.save({"model_state_dict": src.state_dict()}, tmp_path / "tiny.pth")
    assert main(["inspect", str(tmp_path / "tiny.pth"), "--arch", name, "--plugin", str(plugin)]) == 0
    out = capsys.readouterr().out
    assert f"ready: loads into {name}" in out and "classifier.* -> head.*" in out
    model = create_model(name, 1, (8, 8), 10)
    model.load_state_dict({("head." + k[11:] if k.startswith("classifier.") else "net." + k): v
                           for k, v in src.state_dict().items()})
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), src(x), atol=1e-6)
        assert model.features(x).shape == (3, 6)


def test_entry_point_group_lethe_models(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"ep_{uuid.uuid4().hex[:6]}"

    class FakeEntryPoint:
        def __init__(self) -> None:
            self.name, self.value = name, "pkg.models:build"

        def load(self) -> object:
            return lambda in_channels, image_size, num_classes: TinyNet(in_channels, num_classes)

    seen: list[str] = []

    def fake_entry_points(group: str) -> list[FakeEntryPoint]:
        seen.append(group)
        return [FakeEntryPoint()]

    monkeypatch.setattr(registry.metadata, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    model = create_model(name, 3, (8, 8), 5)
    assert seen == ["lethe.models"] and model.num_classes == 5 and model.arch == name
    assert name in registry.available_models()


def test_cli_unlearn_with_a_bare_dataparallel_checkpoint_and_its_arch(tmp_path: Path, digits_original,  # noqa: ANN001
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """fail_03: a {"state_dict": {"module.*": ...}} .pt runs from the CLI once the spec names the architecture."""
    ckpt = tmp_path / "dp_model.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in digits_original.state_dict().items()}, "epoch": 3}, ckpt)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"dataset": "digits", "model": {"checkpoint": str(ckpt)}, "forget": {"classes": [3]},
                                "method": "pour_p", "reference": None, "audit": False, "geometry": False}))
    assert main(["unlearn", str(spec), "--out", str(tmp_path / "a"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot tell the architecture" in err and '"arch": "cnn_small"' in err  # the guess, as a spec field
    spec.write_text(json.dumps({**json.loads(spec.read_text()), "model": {"checkpoint": str(ckpt), "arch": "cnn_small"}}))
    assert main(["unlearn", str(spec), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    record = json.loads((tmp_path / "b" / "record.json").read_text())
    assert record["metrics"]["forget_acc"] == 0.0
    assert record["dataset"]["input_norm"]["source"] == "dataset"
    assert any("gives none" in n for n in record["notes"])
