"""The results store: one SQLite file per results folder, its rows read defensively, write failures explained."""

from mmerbench.store.results import DB_NAME, PREDICTIONS_DIR, SCHEMA_VERSION, ResultStore, crash_point

__all__ = ["DB_NAME", "PREDICTIONS_DIR", "SCHEMA_VERSION", "ResultStore", "crash_point"]
