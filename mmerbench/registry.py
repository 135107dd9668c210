"""Name -> spec lookup with lazy ``"module:attr"`` targets.

Nothing here imports a method or a dataset until it is used, so listing is
cheap. Every lookup of an unknown name suggests close matches and lists the
choices.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from mmerbench.errors import DuplicateNameError, PluginLoadError, UnknownNameError
from mmerbench.importer_spec import (  # noqa: F401 - re-exported: plugins import them from here
    Alternative, AtLeastOne, ImporterOption, ImporterSpec, OneOf,
)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def resolve_target(target: str | Callable | type) -> Any:
    """Import ``"package.module:attr"`` (or return an object given directly)."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"target {target!r} must look like 'package.module:attr'")
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class MethodSpec:
    name: str
    target: str | type
    version: str
    summary: str = ""
    origin: str = "?"

    def load(self) -> type:
        try:
            return resolve_target(self.target)
        except Exception as exc:  # the plugin's own import error, with its cause
            raise PluginLoadError(
                f"method {self.name!r} (from plugin {self.origin}) failed to import "
                f"{self.target!r}: {type(exc).__name__}: {exc}"
            ) from exc


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: str | Callable | None = None
    importer: ImporterSpec | None = None
    summary: str = ""
    generated: bool = False
    origin: str = "?"

    def load_function(self) -> Callable:
        if self.loader is None:
            from mmerbench.data.canonical import load_imported

            return load_imported
        try:
            return resolve_target(self.loader)
        except Exception as exc:
            raise PluginLoadError(
                f"dataset {self.name!r} (from plugin {self.origin}) failed to import "
                f"{self.loader!r}: {type(exc).__name__}: {exc}"
            ) from exc


def _imported_file_exists(name: str) -> bool:
    from mmerbench.paths import canonical_path

    return bool(NAME_PATTERN.match(name)) and canonical_path(name).exists()


@dataclass
class BrokenPlugin:
    name: str
    error: str


@dataclass
class Registry:
    methods: dict[str, MethodSpec] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def view(self, origin: str) -> "RegistrationView":
        return RegistrationView(self, origin)

    def _broken_note(self) -> str:
        if not self.broken:
            return ""
        lines = [f"  {plugin.name}: {plugin.error}" for plugin in self.broken]
        return "Some plugins failed to load and may have provided it:\n" + "\n".join(lines)

    def method(self, name: str) -> MethodSpec:
        if name not in self.methods:
            raise UnknownNameError("method", name, list(self.methods), self._broken_note())
        return self.methods[name]

    def dataset(self, name: str) -> DatasetSpec:
        if name not in self.datasets and _imported_file_exists(name):
            # A dataset imported under a name of the user's choosing (`data import table NAME`).
            return DatasetSpec(name, loader=None, summary="imported table", origin="imported file")
        if name not in self.datasets:
            raise UnknownNameError("dataset", name, list(self.datasets), self._broken_note())
        return self.datasets[name]


class RegistrationView:
    """What a plugin's hook receives: adds entries, remembering which plugin added them."""

    def __init__(self, registry: Registry, origin: str):
        self._registry = registry
        self.origin = origin

    @staticmethod
    def _check_name(name: str) -> None:
        if not NAME_PATTERN.match(name):
            raise ValueError(
                f"invalid name {name!r}: use lower-case letters, digits, '-', '_' or '.'"
            )

    def add_method(self, name: str, target: str | type, *, version: str, summary: str = "") -> None:
        self._check_name(name)
        existing = self._registry.methods.get(name)
        if existing is not None:
            raise DuplicateNameError(
                f"method {name!r} is registered twice: by plugin {existing.origin} "
                f"({existing.target}) and by plugin {self.origin} ({target})"
            )
        self._registry.methods[name] = MethodSpec(name, target, str(version), summary, self.origin)

    def add_dataset(
        self,
        name: str,
        *,
        loader: str | Callable | None = None,
        importer: ImporterSpec | None = None,
        summary: str = "",
        generated: bool = False,
    ) -> None:
        self._check_name(name)
        existing = self._registry.datasets.get(name)
        if existing is not None:
            raise DuplicateNameError(
                f"dataset {name!r} is registered twice: by plugin {existing.origin} "
                f"and by plugin {self.origin}"
            )
        self._registry.datasets[name] = DatasetSpec(
            name, loader, importer, summary, generated, self.origin
        )
