"""Issue 20, "Names from a store or a record become paths" and "A worker can overwrite or forge rows".

Each row is an attack from the issue; on main each one succeeded (a file written outside --output-dir, a
prediction file opened outside the results folder, an ok row replaced by a forged or failed record, a
record no plan produced published like any other, a bare NaN in --format json).
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore

from untrusted_results import make_record, publish, store_ok


def _raw_row(results, record: dict) -> None:
    """A row written straight into SQLite, as in a results.sqlite someone sent (no check of ours ran)."""
    with ResultStore(results):
        pass
    connection = sqlite3.connect(results / "results.sqlite")
    connection.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (record["key"], record["status"], str(record["method"]), str(record["dataset"]),
                        0, "", json.dumps(record)))
    connection.commit()
    connection.close()


NAME_ATTACKS = [
    # (what the record says, where on main a file was written or read)
    pytest.param({"dataset": "../../../../x-escaped"}, "publish", id="dataset-climbing-out-of-output-dir"),
    pytest.param({"dataset": "{tmp}/x-escaped"}, "publish", id="dataset-absolute-path"),
    pytest.param({"key": "../../x-escaped"}, "leaderboard", id="key-climbing-out-of-predictions"),
    pytest.param({"method": "prior\n# owned"}, "leaderboard", id="method-name-with-newline"),
]


@pytest.mark.parametrize("fields, command", NAME_ATTACKS)
def test_names_from_a_store_never_become_paths_outside_their_folder(tmp_path, capsys, fields, command):
    results, out = tmp_path / "deep" / "a" / "b" / "results", tmp_path / "deep" / "a" / "b" / "boards"
    results.mkdir(parents=True)
    record = {**make_record(), **{k: v.format(tmp=tmp_path) for k, v in fields.items()}}
    _raw_row(results, record)
    (tmp_path / "x-escaped.npz").write_bytes(b"not read")
    args = ["leaderboard", "--results", str(results), "--dataset", str(record["dataset"])]
    if command == "publish":
        args += ["--publish", "--output-dir", str(out)]
    field = next(iter(fields))
    main(args)
    assert re.search(rf"skipped row .*: {field} .* is not a", capsys.readouterr().err)  # names record and field
    written = [p for p in tmp_path.rglob("*.md")]
    assert all(out in p.parents for p in written), f"written outside --output-dir: {written}"


def test_a_refused_row_is_named_by_record_and_field(tmp_path):
    results = tmp_path / "results"
    _raw_row(results, {**make_record(), "dataset": "../../x"})
    with ResultStore(results, read_only=True) as store, pytest.warns(UserWarning, match=r"dataset '\.\./\.\./x' is not"):
        assert store.records() == []


FORGERIES = [
    # (file name, record content built from the victim's ok record and another job's, what must happen)
    pytest.param("aaaa", lambda victim, other: {**victim, "status": "failed", "metrics": {}}, "refused",
                 id="file-name-not-a-key-holding-a-failed-record-for-an-ok-job"),
    pytest.param("{other}", lambda victim, other: {**victim, "metrics": {"test": {"mif1": 0.999}}}, "refused",
                 id="file-of-another-job-holding-the-victims-key-with-fake-miF1"),
    pytest.param("{other}", lambda victim, other: {**other, "seed": 5}, "refused",
                 id="content-edited-so-it-no-longer-hashes-to-its-key"),
    pytest.param("{other}", lambda victim, other: {**other, "metrics": {"test": {"mif1": float("nan")}}},
                 "refused", id="nan-metric"),
    pytest.param("{other}", lambda victim, other: {**other, "seed": "zero"}, "refused", id="seed-not-an-integer"),
    pytest.param("{other}", lambda victim, other: {k: v for k, v in other.items() if k != "method"}, "refused",
                 id="record-without-method"),
    pytest.param("{other}", lambda victim, other: [other], "refused", id="json-list-instead-of-object"),
    pytest.param("{other}", lambda victim, other: other, "outside", id="record-no-plan-produced"),
]


@pytest.mark.parametrize("name, build, expected", FORGERIES)
def test_a_collected_record_never_overwrites_or_forges_a_row(tmp_path, capsys, name, build, expected):
    results = tmp_path / "results"
    victim, other = make_record(seed=0, mif1=0.5), make_record(seed=1, mif1=0.4)
    store_ok(results, victim)
    payload = build(victim, other)
    publish(results, name.format(victim=victim["key"], other=other["key"]), payload)
    code = main(["collect", "--results", str(results)])
    captured = capsys.readouterr()
    with ResultStore(results, read_only=True) as store:
        stored = store.get(victim["key"])
        assert stored["status"] == "ok" and stored["metrics"]["test"]["mif1"] == 0.5, "the ok row was replaced"
        others = store.get(other["key"])
    if expected == "refused":
        assert code == 1 and "refused" in captured.err and others is None
    else:  # stored, marked as from outside any planned run, and shown so on its leaderboard row
        assert code == 0 and others["origin"] == "outside"
        main(["leaderboard", "--results", str(results), "--dataset", "tiny"])
        assert "outside: not from a planned run" in capsys.readouterr().out


def test_a_planned_rerun_may_replace_an_ok_row_and_json_has_no_bare_nan(tmp_path, capsys):
    results = tmp_path / "results"
    victim = make_record(seed=0, mif1=0.5)
    store_ok(results, victim)
    with ResultStore(results) as store:
        store.plan([victim["key"]], reruns=[victim["key"]])  # what `run --no-resume` notes before submitting
    publish(results, victim["key"], {**victim, "metrics": {"test": {"mif1": 0.6, "acc": 0.4}}})
    assert main(["collect", "--results", str(results)]) == 0
    with ResultStore(results, read_only=True) as store:
        assert store.get(victim["key"])["metrics"]["test"]["mif1"] == 0.6
        assert store.get(victim["key"])["origin"] == "collected"
    capsys.readouterr()
    main(["leaderboard", "--results", str(results), "--dataset", "tiny", "--format", "json"])
    text = capsys.readouterr().out
    assert "NaN" not in text and json.loads(text)[0]["mif1"]["std"] is None  # one seed: null, never NaN
