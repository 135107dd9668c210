"""`mmerbench list`: the methods and datasets that plugins registered, and imported tables."""

from __future__ import annotations

import argparse



def add_parser(commands) -> None:
    listing = commands.add_parser("list", help="list methods and datasets with their plugins")
    listing.add_argument("what", nargs="?", choices=["methods", "datasets"])
    listing.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from mmerbench.plugins import get_registry
    from mmerbench.paths import canonical_path

    registry = get_registry()
    what = args.what or "all"
    if what in ("all", "methods"):
        print("Methods:")
        for spec in sorted(registry.methods.values(), key=lambda s: s.name):
            print(f"  {spec.name:<14} v{spec.version:<4} {spec.summary}  [{spec.origin}]")
    if what in ("all", "datasets"):
        print("Datasets:")
        for spec in sorted(registry.datasets.values(), key=lambda s: s.name):
            available = spec.generated or canonical_path(spec.name).exists()
            state = "available" if available else "not imported"
            print(f"  {spec.name:<26} {state:<13} {spec.summary}  [{spec.origin}]")
        for name, path in imported_without_plugin(registry):  # `data import table NAME` chose the name
            print(f"  {name:<26} {'available':<13} imported table  [{path}]")
    if registry.broken:
        print("Broken plugins (not loaded):")
        for plugin in registry.broken:
            print(f"  {plugin.name}: {plugin.error}")
    print("\n[in brackets]: the plugin that registered the name: an installed package's entry-point name "
          "(pyproject.toml, [project.entry-points.mmerbench]), a built-in's module, or a module named in "
          "$MMERBENCH_PLUGINS; see docs/plugins.md")
    return 0


def imported_without_plugin(registry) -> list[tuple[str, str]]:
    """(name, path) of canonical files under the data folder that no plugin registers (imported tables)."""
    from mmerbench.paths import data_dir
    from mmerbench.registry import NAME_PATTERN

    folder = data_dir()
    if not folder.is_dir():
        return []
    return [(path.stem, str(path)) for path in sorted(folder.glob("*.h5"))
            if path.stem not in registry.datasets and NAME_PATTERN.match(path.stem)]
