"""Results scored under the older protocol rule (version 1 scored missing-rate conditions on methods whose
required modality they dropped) are told apart, flagged in the tables and scored again when evaluated."""

from __future__ import annotations

import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.reporting.robustness_tables import robustness_markdown
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.usefixtures("testing_plugin")
RATE = "test@missing-rate=0.3"


def only_record(results) -> dict:
    with ResultStore(results) as store:
        (record,) = store.records()
    return record


def as_scored_by_version_1(results) -> None:
    """Rewrite the stored record the way version 1 left it: scored on samples without the text it requires."""
    record = only_record(results)
    record.pop("protocol_version")
    record.pop("condition_info")
    record["condition_errors"].pop(RATE)
    record["metrics"][RATE] = {"mif1": 0.123}
    with ResultStore(results) as store:
        store.put(record)


def test_a_version_1_record_is_flagged_then_scored_again_under_the_one_rule(tmp_path, capsys):
    mmerbench.run(["text-only"], ["tiny"], [0], results=tmp_path, protocols=["missing-rate:0.3"])
    record = only_record(tmp_path)
    assert record["protocol_version"] == 2 and RATE in record["condition_errors"]
    as_scored_by_version_1(tmp_path)
    assert "older protocol rule" in robustness_markdown([only_record(tmp_path)], "tiny")
    # Evaluating (even with another protocol) scores every condition of the record again, under version 2.
    assert main(["evaluate", "--results", str(tmp_path), "--protocol", "noise:1"]) == 0
    record = only_record(tmp_path)
    assert record["protocol_version"] == 2
    assert RATE not in record["metrics"] and "requires modality text" in record["condition_errors"][RATE]
    assert record["condition_info"][RATE]["protocol"] == "missing-rate:0.3"
    assert "test@noise=1:all" in record["metrics"]
    assert "older protocol rule" not in robustness_markdown([record], "tiny")
    capsys.readouterr()
    assert main(["evaluate", "--results", str(tmp_path), "--protocol", "missing-rate:0.3"]) == 0
    assert "already had every condition" in capsys.readouterr().out
