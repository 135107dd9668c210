"""Can a method run on a dataset at all? Decided at planning time, from ``Method.requires``.

A method declares what it needs in its ``requires`` class attribute:

- ``"modalities"``: names the data must have (``sgm`` and ``lsan`` need ``("text",)``);
- ``"sequences"``: ``True`` when it needs more than one step in some modality
  (a table of pooled features, such as MULAN emotions, has one step per sample).

A (method, dataset) pair that fails a requirement is not a failure to retry: it
can never succeed, so the runner plans it as incompatible, does not run it, and
reports it once.
"""

from __future__ import annotations

from typing import Any, Mapping


def incompatibility(requires: Mapping[str, Any], modalities: list[str], steps: Mapping[str, int]) -> str | None:
    """Why a method with ``requires`` cannot run on data with these modalities and steps, or None.

    The reason reads after "incompatible:", e.g. ``"needs text"`` or ``"needs text, audio"``.
    """
    needed = [str(m) for m in (requires.get("modalities") or ())]
    missing = [m for m in needed if m not in modalities]
    if missing:
        return "needs " + ", ".join(missing)
    if requires.get("sequences") and not any(int(t) > 1 for t in steps.values()):
        return "needs sequences (every modality of the data has one step per sample)"
    return None


def dataset_incompatibility(method_class: type, dataset) -> str | None:
    """:func:`incompatibility` for a Method class and a loaded :class:`mmerbench.data.Dataset`."""
    return incompatibility(getattr(method_class, "requires", {}) or {}, list(dataset.train.modalities),
                           dataset.train.steps)
