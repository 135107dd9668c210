"""What a published table's provenance footer says about how to re-create it.

Every job record carries the one-job command line that re-runs it. A table
is usually one `mmerbench run` over several methods and seeds; when every
job's command differs only in ``--methods`` and ``--seeds`` (and in
``--preset P`` where a method does not define P, as ``--device auto`` writes
it), that run is written back as a single command (with the robustness protocols the jobs
were evaluated under). Otherwise the footer says the jobs came from several
option sets and points at the per-job commands.
"""

from __future__ import annotations

import shlex

MERGED_OPTIONS = ("--methods", "--seeds")
PRESET = "--preset"


def _split_command(command: str) -> tuple[tuple[str, ...], dict[str, str]] | None:
    """The command's tokens other than --methods, --seeds and --preset, and the values of those three
    (--preset only where given); None when the command cannot be parsed or lacks --methods/--seeds."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    rest, merged = [], {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in (*MERGED_OPTIONS, PRESET) and index + 1 < len(tokens):
            merged[token] = tokens[index + 1]
            index += 2
            continue
        rest.append(token)
        index += 1
    if not set(MERGED_OPTIONS) <= set(merged):
        return None
    return tuple(rest), merged


def _common_preset(merged: list[dict[str, str]]) -> tuple[bool, str | None]:
    """(possible, preset): one --preset for the whole run when the jobs used at most one preset and
    every job without it ran a method that does not define it (so the preset would not touch it)."""
    presets = {m[PRESET] for m in merged if PRESET in m}
    if len(presets) > 1:
        return False, None
    if not presets:
        return True, None
    (preset,) = presets
    try:
        from mmerbench.api import method_class

        for m in merged:
            if PRESET not in m and any(preset in method_class(name).presets for name in m["--methods"].split(",")):
                return False, None
    except Exception:  # a method no longer installed: its presets are unknown
        return False, None
    return True, preset


def _ordered_union(values, split_commas: bool = True) -> list[str]:
    """Distinct values in first-seen order; "a,b" counts as a and b unless ``split_commas`` is off
    (a protocol such as missing-rate:0.1,0.3 is one value)."""
    seen: dict[str, None] = {}
    for value in values:
        for part in (value.split(",") if split_commas else [value]):
            seen.setdefault(part, None)
    return list(seen)


def reproduce_command(records: list[dict]) -> str | None:
    """One `mmerbench run` command that re-runs every job of ``records``, or None when there is none."""
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for record in records:
        parsed = _split_command(str(record.get("command") or ""))
        if parsed is None:
            return None
        rest, merged = parsed
        groups.setdefault(rest, []).append(merged)
    if len(groups) != 1:
        return None
    (rest, merged), = groups.items()
    possible, preset = _common_preset(merged)
    if not possible:
        return None
    methods = _ordered_union(m["--methods"] for m in merged)
    seeds = sorted(_ordered_union(m["--seeds"] for m in merged), key=lambda s: (len(s), s))
    protocols = _ordered_union((p for r in records for p in (r.get("protocols") or [])), split_commas=False)
    head, options = list(rest[:2]), list(rest[2:])  # "mmerbench run"
    words = head + ["--methods", ",".join(methods), "--seeds", ",".join(seeds)]
    words += ([PRESET, preset] if preset else []) + options
    for protocol in protocols:
        words += ["--protocol", protocol]
    return shlex.join(words)


def presets_line(records: list[dict]) -> str:
    """Which preset each method ran with, e.g. 'cpu (lddu, mult); none, the defaults (br, cc)'."""
    by_preset: dict[str, list[str]] = {}
    for record in records:
        preset = record.get("preset") or "none, the method's defaults"
        methods = by_preset.setdefault(preset, [])
        if record["method"] not in methods:
            methods.append(record["method"])
    parts = [f"{preset} ({', '.join(sorted(methods))})" for preset, methods in sorted(by_preset.items())]
    automatic = any(r.get("preset") == "cpu" and r.get("requested_device") == "auto" for r in records)
    note = (" `--device auto` picks a method's `cpu` preset when no GPU is present; on a GPU the same command "
            "runs the defaults (the paper's settings) and gives other numbers.") if automatic else ""
    return "Presets: " + "; ".join(parts) + "." + note


def dataset_line(dataset: str) -> str | None:
    """'Generated data, not recordings: ...' for a generated dataset; None for any other or an unknown one."""
    try:
        from mmerbench.plugins import get_registry

        spec = get_registry().datasets.get(dataset)
    except Exception:  # a footer must never fail for want of the plugin that made the data
        return None
    if spec is None or not spec.generated:
        return None
    return (f"Data: generated by mmerbench's `{dataset}` generator, not recordings of people ({spec.summary}); "
            "its numbers show how the methods and the protocol behave, not how they do on real MMER corpora.")


def threads_line(records: list[dict]) -> str | None:
    """How many threads the jobs ran with: a deep method's numbers depend on it in the last digits."""
    counts = sorted({int(r["threads"]) for r in records if isinstance(r.get("threads"), int)})
    if not counts:
        return None
    return (f"Threads per job: {', '.join(map(str, counts))} (`--threads`, 1 unless asked, whatever `--jobs` and "
            "the machine's cores). Seeded jobs repeat exactly with the same thread count; another count sums "
            "floats in another order, and a deep method's training can then drift as far as another seed would.")
