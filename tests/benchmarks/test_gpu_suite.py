"""benchmarks/gpu_suite.py in smoke mode: every deep method trains on both synthetic-mosei shapes on the CPU."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch.nn.functional as F

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_suite.py"


@pytest.fixture(scope="module")
def gpu_suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_native_dropout(monkeypatch):
    """Make PyTorch's own dropout fail: every mask must come from methods/_blocks/dropout.py."""
    def refuse(*args, **kwargs):
        raise AssertionError("F.dropout was called: use mmerbench_methods._blocks.dropout")

    fused = F.scaled_dot_product_attention

    def attention(*args, dropout_p=0.0, **kwargs):
        if dropout_p > 0 and args[0].device.type == "cpu":
            raise AssertionError("scaled_dot_product_attention drew its own dropout on the CPU")
        return fused(*args, dropout_p=dropout_p, **kwargs)

    monkeypatch.setattr(F, "dropout", refuse)
    monkeypatch.setattr(F, "scaled_dot_product_attention", attention)


@pytest.mark.slow
def test_smoke_mode_trains_every_deep_method_on_both_shapes(gpu_suite, tmp_path, capsys, monkeypatch):
    from mmerbench.api import method_class
    from mmerbench.plugins import get_registry
    from mmerbench.training import TorchMethod

    _no_native_dropout(monkeypatch)
    result = gpu_suite.main(["--smoke", "--json", str(tmp_path / "rows.json")])
    out = capsys.readouterr().out
    assert result["failures"] == [], result["failures"]
    deep = {n for n in get_registry().methods if issubclass(method_class(n), TorchMethod)}
    assert len(deep) >= 15
    ran = {(row["method"], row["dataset"]) for row in result["rows"]}
    assert ran == {(m, d) for m in deep for d in ("synthetic-mosei-aligned", "synthetic-mosei")}
    for row in result["rows"]:
        assert row["timed_steps"] == 2 and row["variant"] == "fp32"
        assert row["seconds_per_step"] > 0 and row["samples_per_second"] > 0 and row["peak_mb"] > 0
        assert math.isfinite(row["loss_first"]) and math.isfinite(row["loss_last"])
        assert 0.0 <= row["valid_mif1"] <= 1.0 and row["mif1_difference"] == 0.0
    assert "| lddu | synthetic-mosei | fp32 | " in out
    assert "reproduce: python benchmarks/gpu_suite.py --smoke --json" in out
    assert json.loads((tmp_path / "rows.json").read_text())["rows"][0]["method"] == result["rows"][0]["method"]


@pytest.mark.slow
def test_bf16_and_compiled_variants_are_scored_against_fp32(gpu_suite, capsys):
    from torch._dynamo.utils import counters

    counters.clear()
    result = gpu_suite.main(["--smoke", "--methods", "lddu", "--datasets", "synthetic-mosei-aligned",
                             "--precision", "bf16", "--compile", "--compile-backend", "eager"])
    assert result["failures"] == []
    rows = {row["variant"]: row for row in result["rows"]}
    assert set(rows) == {"fp32", "bf16", "fp32 compiled", "bf16 compiled"}
    # The eager backend runs the same operations: the compiled fp32 run is the fp32 run, number for number.
    assert rows["fp32 compiled"]["loss_last"] == rows["fp32"]["loss_last"]
    assert rows["fp32 compiled"]["mif1_difference"] == 0.0
    assert counters["stats"]["unique_graphs"] > 0  # dynamo did trace the model
    assert rows["bf16"]["loss_first"] != rows["fp32"]["loss_first"]  # autocast did take effect
    for variant in ("bf16", "bf16 compiled"):
        assert rows[variant]["mif1_difference"] == pytest.approx(rows[variant]["valid_mif1"] - rows["fp32"]["valid_mif1"])
    assert "vs fp32)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--precision", "fp16"], "--precision 'fp16' is not valid: use fp32 and/or bf16"),
    (["--methods", "lddx"], "--methods: unknown lddx; registered: "),
])
def test_bad_options_are_refused_with_the_valid_choices(gpu_suite, argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        gpu_suite.main(["--smoke", *argv])
    assert message in (str(raised.value.code) + capsys.readouterr().err)
