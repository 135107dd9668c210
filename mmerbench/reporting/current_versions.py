"""What a published page may show: only jobs the installed methods can re-create.

A results folder keeps every job it ever ran, so after a method's version moves (a fix, a new random
stream) it holds rows of the old version beside the new. A page whose footer promises that its command
re-creates every number must leave the old rows out, and say so; an unpublished table keeps showing
them, labelled ``m v3`` / ``m v4``."""

from __future__ import annotations


def installed_versions() -> dict[str, str]:
    """Each registered method's version as its jobs record it: the class's ``version`` (what the runner
    writes into every record), else the version its plugin registered when the class does not load."""
    from mmerbench.plugins import get_registry

    versions = {}
    for name, spec in get_registry().methods.items():
        try:
            versions[name] = str(getattr(spec.load(), "version", spec.version))
        except Exception:  # a broken plugin: its registered version is all there is to go by
            versions[name] = str(spec.version)
    return versions


def current_records(records: list[dict], dataset: str | None = None) -> tuple[list[dict], list[str]]:
    """The records whose method version is the installed one, and a note per method whose other versions
    were left out (finished jobs of ``dataset`` only; every dataset when None). A method that is not
    installed is kept: nothing here can tell which of its versions is current."""
    installed = installed_versions()
    kept, left_out = [], {}
    for record in records:
        method, version = record.get("method"), str(record.get("method_version"))
        current = installed.get(method)
        if current is not None and version != current and record.get("status") == "ok" \
                and (dataset is None or record.get("dataset") == dataset):
            left_out.setdefault((method, current), {}).setdefault(version, 0)
            left_out[(method, current)][version] += 1
            continue
        kept.append(record)
    notes = [f"Left out: {method} " + ", ".join(f"v{v} ({n} job{'s' if n > 1 else ''})" for v, n in sorted(versions.items()))
             + f", which the installed {method} (v{current}) cannot re-create"
             for (method, current), versions in sorted(left_out.items())]
    return kept, notes
