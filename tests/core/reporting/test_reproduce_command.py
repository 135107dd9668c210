"""The provenance footer's one command that re-creates a published table."""

from __future__ import annotations

import re
import shlex

from mmerbench.cli.main import main
from mmerbench.reporting.reproduce import presets_line, reproduce_command

JOB_LINE = re.compile(r"\[(?:to run|done)\]\s+(\w+)\s+(mmerbench run .*)$")


def planned_jobs(capsys, command: str, tmp_path) -> dict[str, str]:
    """key -> one-job command, as `mmerbench run --dry-run` lists them (nothing runs)."""
    assert main([*shlex.split(command)[1:], "--results", str(tmp_path), "--dry-run"]) == 0
    jobs = {}
    for line in capsys.readouterr().out.splitlines():
        match = JOB_LINE.search(line.strip())
        if match:
            jobs[match.group(1)] = match.group(2)
    assert jobs, "the dry run listed no job"
    return jobs


def records_of(jobs: dict[str, str], protocols=("missing",)) -> list[dict]:
    records = []
    for key, command in jobs.items():
        words = shlex.split(command)
        preset = words[words.index("--preset") + 1] if "--preset" in words else None
        records.append({"key": key, "command": command, "method": words[words.index("--methods") + 1],
                        "preset": preset, "requested_device": "auto", "protocols": list(protocols)})
    return records


def test_the_merged_command_plans_exactly_the_jobs_of_the_table(capsys, tmp_path):
    # lddu's jobs are written with --preset cpu (as when --device auto chose it), br's and prior's without
    original = planned_jobs(capsys, "mmerbench run --methods prior,lddu,br --seeds 0,2 --device cpu --preset cpu",
                            tmp_path)
    assert any("--preset cpu" in c for c in original.values()) and any("--preset" not in c for c in original.values())
    command = reproduce_command(records_of(original, protocols=("missing", "missing-rate:0.1,0.3")))
    assert command is not None
    assert command.endswith(" --protocol missing --protocol missing-rate:0.1,0.3")  # a protocol keeps its commas
    replanned = planned_jobs(capsys, command, tmp_path)
    assert set(replanned) == set(original)


def test_jobs_with_different_options_get_no_merged_command(capsys, tmp_path):
    plain = planned_jobs(capsys, "mmerbench run --methods br --seeds 0 --device cpu", tmp_path)
    changed = planned_jobs(capsys, "mmerbench run --methods cc --seeds 0 --device cpu --threshold fixed:0.3", tmp_path)
    assert reproduce_command(records_of({**plain, **changed})) is None


def test_a_preset_that_another_row_defines_but_did_not_use_blocks_the_merge(capsys, tmp_path):
    # mult ran its cpu preset, lddu its defaults: one --preset cpu would change lddu's jobs
    cpu = planned_jobs(capsys, "mmerbench run --methods mult --seeds 0 --device cpu --preset cpu", tmp_path)
    default = planned_jobs(capsys, "mmerbench run --methods lddu --seeds 0 --device cpu", tmp_path)
    records = records_of({**cpu, **default})
    assert reproduce_command(records) is None
    assert presets_line(records).startswith("Presets: cpu (mult); none, the method's defaults (lddu).")


def test_the_thread_count_is_stated_because_it_changes_deep_results():
    from mmerbench.reporting.reproduce import threads_line

    assert threads_line([{"threads": 1}, {"threads": 1}]).startswith("Threads per job: 1 ")
    assert threads_line([{"threads": 2}, {"threads": 1}]).startswith("Threads per job: 1, 2 ")
    assert threads_line([{"method": "br"}]) is None
