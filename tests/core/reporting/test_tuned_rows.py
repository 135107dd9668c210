"""Tuned rows: labelled `m (cpu, tuned N)` beside the preset's row, with the budget and the tune command below."""

from __future__ import annotations

from mmerbench.reporting.leaderboard import build_rows, provenance
from mmerbench.reporting.rows import config_label
from mmerbench.reporting.tuning_notes import tuning_lines

TUNING = {"role": "tuned", "study": "s1", "trials": 16, "sampler": "tpe", "sampler_seed": 0, "pruner": "median",
          "space": "cpu", "round_size": 2, "params": {"lr": 0.0031, "hidden": 32}}


def _record(seed, tuning=None, status="ok", **extra):
    overrides = {"lr": 0.0031, "hidden": 32} if tuning and tuning.get("role") == "tuned" else {}
    sets = " ".join(f"--set carat.{k}={v}" for k, v in overrides.items())
    return {"key": f"k{seed}{bool(tuning)}{status}", "method": "carat", "method_version": "2", "dataset": "synthetic",
            "dataset_fingerprint": "f", "seed": seed, "preset": "cpu", "overrides": overrides, "status": status,
            "threshold_policy": "valid", "tuning": tuning, "metrics": {"test": {"mif1": 0.5 + 0.1 * bool(tuning)}},
            "command": f"mmerbench run --methods carat --datasets synthetic --seeds {seed} {sets} --threshold valid "
                       "--device auto", **extra}


def test_preset_and_tuned_rows_stand_in_one_table_with_their_labels():
    records = [_record(s) for s in (0, 1)] + [_record(s, TUNING) for s in (0, 1)]
    labels = [row.label for row in build_rows(records, "synthetic")]
    assert labels == ["carat (cpu)", "carat (cpu, tuned 16)"]
    assert config_label({**records[-1], "tuning": {**TUNING, "sampler": "random", "sampler_seed": 3}}) == \
        "carat (cpu, tuned 16 random seed 3)"


def test_trial_records_are_never_rows_and_the_footer_gives_budget_compute_and_command():
    trials = [_record(9, {"role": "trial", "study": "s1"}, status="trial", curve=[{"epoch": 1}, {"epoch": 2}],
                      cpu_seconds=10.0, fit_seconds=8.0),
              _record(8, {"role": "trial", "study": "s1"}, status="pruned", curve=[{"epoch": 1}], cpu_seconds=5.0)]
    records = [_record(0), _record(0, TUNING), _record(1, TUNING)] + trials
    assert len(build_rows(records, "synthetic")) == 2
    lines = tuning_lines(records, "synthetic")
    text = "\n".join(lines)
    assert "16 trials, sampler tpe (seed 0), pruner median" in text
    assert "carat: 2 trials (1 scored, 1 pruned, 0 failed), 3 epochs, 15 CPU s" in text
    assert "carat: hidden=32, lr=0.0031" in text
    assert ("`mmerbench tune --methods carat --seeds 0,1 --datasets synthetic --threshold valid --device auto "
            "--trials 16 --sampler tpe --sampler-seed 0 --pruner median --jobs 2`") in text
    footer = provenance(records, "synthetic")
    assert "Re-create the tuned rows" in footer
    assert "Reproduce the table: `mmerbench run --methods carat --seeds 0 " in footer  # the preset rows alone
