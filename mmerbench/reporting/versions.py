"""The footer lines that say which versions made a table: methods, protocols, and the plugins' code.

A record made before a version was recorded carries version "1": the first
version of a dataset or protocol is, by definition, the one every earlier
number was computed with.
"""

from __future__ import annotations

from mmerbench.plugin_sources import describe


def _joined(pairs) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(pairs))


def versions_line(records: list[dict]) -> str:
    """'Method versions: amp 1, br 1, lddu 2' (a method's version is bumped when its numbers change)."""
    pairs = {(r["method"], str(r.get("method_version") or "?")) for r in records}
    return ("Method versions: " + _joined(pairs) + " (each is part of the job key; a method's version changes "
            "when its numbers would)")


def protocols_line(records: list[dict]) -> str | None:
    """'Protocol versions: missing 1, missing-rate 1' for the robustness protocols the jobs were evaluated under."""
    from mmerbench.data.protocol_specs import parse_protocol

    pairs = set()
    for record in records:
        recorded = record.get("protocol_versions") or {}
        for text in record.get("protocols") or ():
            name = parse_protocol(text).name
            pairs.add((name, str(recorded.get(name, "1"))))
    if not pairs:
        return None
    return ("Protocol versions: " + _joined(pairs) + " (a protocol's version changes when its conditions' numbers "
            "stop being comparable)")


def plugins_line(records: list[dict]) -> str:
    """Which distribution, version and code provided each method and dataset of the table."""
    sources: dict[str, str] = {}
    for record in records:
        for kind, name in (("method_source", record["method"]), ("dataset_source", record["dataset"])):
            if record.get(kind):
                sources[name] = describe(record[kind])
            else:
                sources.setdefault(name, "not recorded (the job ran before plugin sources were recorded)")
    by_origin: dict[str, list[str]] = {}
    for name, text in sorted(sources.items()):
        by_origin.setdefault(text, []).append(name)
    parts = [f"{', '.join(names)}: {text}" for text, names in by_origin.items()]
    return ("Plugins (distribution and version, sha256 of the plugin's source files, VCS revision when installed "
            "from a checkout): " + "; ".join(parts))
