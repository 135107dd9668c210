"""Every published footer says which versions made its numbers: methods, dataset, protocols, plugins."""

from __future__ import annotations

from mmerbench.evaluation.metrics import EMPTY_LABEL_SET_RULE
from mmerbench.reporting.leaderboard import leaderboard_markdown
from mmerbench.reporting.report import condition_errors_by_method

SOURCE = {"plugin": "acme.plugin", "module": "acme.method", "distribution": "acme-mmer", "version": "2.1.0",
          "source_sha256": "0123456789abcdef", "vcs_revision": "fedcba9876543210aaaa"}


def record(method, seed, **extra):
    return {"key": f"{method}{seed}", "method": method, "method_version": "3" if method == "acme" else "1",
            "dataset": "d", "dataset_fingerprint": "fp", "seed": seed, "status": "ok", "preset": None,
            "overrides": {}, "threshold_policy": "valid", "threshold": 0.5, "threads": 1,
            "metrics": {"test": {"mif1": 0.5}, "test@text": {"mif1": 0.4}}, "protocols": ["missing"],
            "command": f"mmerbench run --methods {method} --datasets d --seeds {seed} --threshold valid "
                       "--device cpu --threads 1", **extra}


def test_the_footer_names_every_version_and_the_plugins_code():
    records = [record("acme", 0, method_source=SOURCE, dataset_version="2", protocol_versions={"missing": "1"}),
               record("br", 0)]
    text = leaderboard_markdown(records, "d")
    assert "Dataset: d version 1, 2, file fingerprint" in text  # an older record counts as the first version
    assert "Method versions: acme 3, br 1" in text
    assert "Protocol versions: missing 1" in text
    assert "acme: acme-mmer 2.1.0, source 0123456789abcdef, git fedcba987654" in text
    assert "br, d: not recorded (the job ran before plugin sources were recorded)" in text
    assert EMPTY_LABEL_SET_RULE in text
    assert "--threads 1" in text and "Threads per job: 1 (`--threads`" in text


def test_condition_errors_are_grouped_per_method_and_seed_said_once():
    records = [{"method": "lsan", "seed": s, "condition_errors": {"test@audio": "needs text"}} for s in (0, 1, 2)]
    records.append({"method": "sgm", "seed": 0, "condition_errors": {"test@vision": "boom"}})
    records.append({"method": "sgm", "seed": 1, "condition_errors": {}})
    assert condition_errors_by_method(records) == ["lsan (seeds 0, 1, 2): audio: needs text",
                                                   "sgm (seeds 0, 1): vision (seed 0): boom"]


def test_a_dirty_revision_names_the_files_that_differed_and_a_colleagues_odd_field_is_ignored():
    dirty = record("br", 0, git_revision="abc123-dirty", git_changed_files=["leaderboards/synthetic.toml"])
    odd = record("br", 1, git_revision="def456-dirty", git_changed_files=7)  # not a list: say only "-dirty"
    text = leaderboard_markdown([dirty, odd], "d")
    assert "abc123-dirty (changed: leaderboards/synthetic.toml)" in text
    assert "def456-dirty," in text or "def456-dirty\n" in text


def test_the_changed_files_are_those_git_reports_for_the_checkout(tmp_path, monkeypatch):
    import subprocess

    from mmerbench.execution import provenance

    package = tmp_path / "mmerbench"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    (tmp_path / "config.toml").write_text("seeds = [0]\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(git + ["add", "."], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "x"], cwd=tmp_path, check=True)
    monkeypatch.setattr(provenance, "PACKAGE_DIR", package)
    assert provenance.git_changed_files() == [] and not provenance.git_revision().endswith("-dirty")
    (tmp_path / "config.toml").write_text("seeds = [1]\n")
    (tmp_path / "untracked.txt").write_text("not part of the revision\n")
    assert provenance.git_changed_files() == ["config.toml"] and provenance.git_revision().endswith("-dirty")
    assert provenance.run_provenance("cpu", "local")["git_changed_files"] == ["config.toml"]  # every record keeps it
