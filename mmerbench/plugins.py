"""The plugin manager: built-ins first, then the ``mmerbench`` entry-point group.

Built-in plugins live in the ``mmerbench_methods`` and ``mmerbench_datasets``
packages, one sub-package each with a ``plugin`` module; they are registered
through the same hooks as third-party plugins (as datasette does). A plugin that
fails to import, or whose hook raises, is recorded as broken with its cause and
never stops the others from loading.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import traceback
from pathlib import Path

import pluggy

from mmerbench import hookspecs
from mmerbench.errors import DuplicateNameError
from mmerbench.registry import BrokenPlugin, Registry

ENTRY_POINT_GROUP = "mmerbench"
DISABLE_AUTOLOAD_ENV = "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD"
# Comma-separated plugin modules registered always, even with autoload off
# (like PYTEST_PLUGINS); inherited by the runner's worker processes.
EXTRA_PLUGINS_ENV = "MMERBENCH_PLUGINS"
BUILTIN_PLUGIN_PACKAGES = ("mmerbench_methods", "mmerbench_datasets")

_registry: Registry | None = None
_extra_plugins: dict[str, object] = {}


def builtin_plugin_modules() -> list[str]:
    """Names of every ``<package>.<folder>.plugin`` module of the built-in packages."""
    names = []
    for package_name in BUILTIN_PLUGIN_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ImportError:
            continue
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.ispkg and not info.name.startswith("_"):
                # A folder is a plugin when it has a plugin module (a broken one is still reported).
                folder = Path(info.module_finder.path) / info.name
                if (folder / "plugin.py").exists():
                    names.append(f"{package_name}.{info.name}.plugin")
    return names


def _short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def make_plugin_manager(broken: list[BrokenPlugin]) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for module_name in builtin_plugin_modules():
        try:
            manager.register(importlib.import_module(module_name), name=module_name)
        except Exception as exc:  # a broken built-in must not hide the others
            broken.append(BrokenPlugin(module_name, _short_error(exc)))
    if not os.environ.get(DISABLE_AUTOLOAD_ENV):
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            label = f"{entry_point.name} ({entry_point.value})"
            if manager.has_plugin(entry_point.name):
                continue
            try:
                manager.register(entry_point.load(), name=entry_point.name)
            except Exception as exc:
                broken.append(BrokenPlugin(label, _short_error(exc)))
    for module_name in filter(None, (m.strip() for m in os.environ.get(EXTRA_PLUGINS_ENV, "").split(","))):
        if manager.has_plugin(module_name):
            continue
        try:
            manager.register(importlib.import_module(module_name), name=module_name)
        except Exception as exc:
            broken.append(BrokenPlugin(f"{module_name} (from ${EXTRA_PLUGINS_ENV})", _short_error(exc)))
    for name, plugin in _extra_plugins.items():
        manager.register(plugin, name=name)
    return manager


def build_registry() -> Registry:
    registry = Registry()
    manager = make_plugin_manager(registry.broken)
    for hook_name in ("mmerbench_register_datasets", "mmerbench_register_methods"):
        caller = getattr(manager.hook, hook_name)
        # Call each plugin's implementation on its own so that entries remember
        # their origin and one plugin's failure does not stop the rest.
        # In registration order (built-ins, entry points, $MMERBENCH_PLUGINS, then in-process plugins), so
        # that a later plugin reusing a name is the broken one and never evicts a built-in.
        for impl in caller.get_hookimpls():
            if impl.plugin_name in {plugin.name for plugin in registry.broken}:
                continue  # already broken in its other hook
            try:
                impl.function(registry=registry.view(impl.plugin_name))
            except DuplicateNameError as exc:  # the message names both origins
                registry.broken.append(BrokenPlugin(impl.plugin_name, str(exc)))
            except Exception as exc:
                registry.broken.append(BrokenPlugin(impl.plugin_name, _short_error(exc)))
                traceback.clear_frames(exc.__traceback__)
    drop_broken_entries(registry)
    return registry


def drop_broken_entries(registry: Registry) -> None:
    """A broken plugin is not loaded: remove whatever it registered before it failed.

    A plugin that registers a name that already exists is broken, not fatal: the
    first registration stays, and every other command and method keeps working.
    """
    broken = {plugin.name for plugin in registry.broken}
    for entries in (registry.methods, registry.datasets):
        for name in [name for name, spec in entries.items() if spec.origin in broken]:
            del entries[name]


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    if _registry is None:
        _registry = build_registry()
    return _registry


def reset_registry() -> None:
    global _registry
    _registry = None


def register_plugin(plugin: object, name: str) -> None:
    """Register a plugin object in this process (tests, notebooks); see ``unregister_plugin``."""
    _extra_plugins[name] = plugin
    reset_registry()


def unregister_plugin(name: str) -> None:
    _extra_plugins.pop(name, None)
    reset_registry()
