"""Building blocks of the attacks of issue 20: job records as a worker (or an attacker) would publish them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mmerbench.execution.planning import record_key
from mmerbench.store.results import ResultStore


def make_record(seed: int = 0, method: str = "prior", dataset: str = "tiny", status: str = "ok", mif1: float = 0.5,
                **fields) -> dict:
    """A complete job record whose key is the hash of its content, as the planner would make it."""
    record = {
        "method": method, "method_version": "1", "params": {"threshold": "valid", "random_state": seed},
        "dataset": dataset, "dataset_params": {}, "dataset_fingerprint": "0123456789abcdef", "seed": seed,
        "threshold_policy": "valid", "valid_seed": None, "preset": None, "overrides": {}, "status": status,
        "error": None if status == "ok" else "it broke", "threshold": 0.5, "notes": [], "command": "",
        "metrics": {"test": {"mif1": mif1, "acc": 0.4}} if status == "ok" else {}, "per_label": {},
        "finished_at": "2026-01-01T00:00:00+00:00",
    }
    record.update(fields)
    record["key"] = record_key(record)
    return record


def store_ok(results: Path, record: dict) -> None:
    """Commit ``record`` as a driver would, with its predictions file."""
    with ResultStore(results) as store:
        store.save_predictions(record["key"], {"test_proba": np.full((4, 2), 0.5, dtype=np.float32),
                                                "test_labels": np.zeros((4, 2), dtype=np.uint8)})
        store.put(record)


def publish(results: Path, name: str, payload) -> Path:
    """``jobs/<name>.json`` as a remote worker writes it (``payload`` may be anything)."""
    path = Path(results) / "jobs" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    if isinstance(payload, dict) and payload.get("status") == "ok" and "key" in payload:
        with ResultStore.files_only(results) as store:
            try:
                store.save_predictions(payload["key"], {"test_proba": np.zeros((4, 2), dtype=np.float32)})
            except Exception:  # noqa: BLE001 - a key that is not a key has no predictions file
                pass
    return path
