"""``mmerbench data ...``: import users' feature files, list, describe and verify datasets.

``data import NAME [options]`` is parsed in two stages: the first stage takes
only the dataset name; the options are then parsed by a parser built from that
dataset's :class:`~mmerbench.registry.ImporterSpec` (plus ``--dtype``,
``--output``, ``--force``), so ``mmerbench data import NAME --help`` shows that
importer's own options and file layout. An importer option whose flag has no
dashes is positional; one named ``dataset_name`` makes the canonical file's
name the user's choice (``mmerbench data import table NAME ...``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmerbench.errors import MMERBenchError, UsageError

DATASET_NAME_DEST = "dataset_name"


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="import, list, describe and verify datasets",
                                 description="Import users' feature files into the canonical form and inspect them.")
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND")
    commands.required = True

    importer = commands.add_parser(
        "import", help="convert downloaded feature files into the canonical HDF5 form", add_help=False,
        description="mmerbench data import NAME [options]; see `mmerbench data import NAME --help`.")
    importer.add_argument("-h", "--help", action="store_true", dest="show_help", help=argparse.SUPPRESS)
    importer.add_argument("name", nargs="?", help="dataset name (see `mmerbench data list`)")
    importer.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    importer.set_defaults(func=handle_import, import_parser=importer)

    lister = commands.add_parser("list", help="datasets that can be imported, and those imported")
    lister.set_defaults(func=handle_list)

    info = commands.add_parser("info", help="sizes, dims, label frequencies and length statistics")
    info.add_argument("name")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=handle_info)

    verify = commands.add_parser("verify", help="recompute an imported dataset's fingerprint")
    verify.add_argument("name")
    verify.set_defaults(func=handle_verify)


# --------------------------------------------------------------------------- import


def _importable() -> dict:
    from mmerbench.plugins import get_registry

    return {name: spec for name, spec in get_registry().datasets.items() if spec.importer is not None}


COMMON_USAGE = "[--dtype {float32,float16}] [--output PATH] [--force]"


def build_import_parser(name: str, spec) -> argparse.ArgumentParser:
    """The parser of ``data import NAME``: usage line, help and groups all from the importer's declaration."""
    importer = spec.importer
    prog = f"mmerbench data import {name}"
    parser = argparse.ArgumentParser(
        prog=prog, description=(spec.summary + "\n\n" + importer.help).strip(),
        usage=wrapped_usage([prog, *importer.usage_parts(), COMMON_USAGE]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = {id(rule): parser.add_argument_group(importer.rule_title(rule)) for rule in importer.rules}
    for option in importer.options:
        rule = importer.rule_of(option.flag)
        option.add_to(parser if rule is None else groups[id(rule)])
    common = parser.add_argument_group("common options")
    common.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                        help="feature storage (float16 halves size and memory; refused where values do not fit)")
    common.add_argument("--output", metavar="PATH", help="where to write (default $MMERBENCH_HOME/data/NAME.h5)")
    common.add_argument("--force", action="store_true", help="overwrite an existing imported dataset")
    return parser


def wrapped_usage(parts: list[str], width: int = 100) -> str:
    """Words of a usage line filled to ``width``, a group never cut, continuation lines indented."""
    indent = " " * (len("usage: ") + len(parts[0].split()[0]) + 1)
    lines, line = [], parts[0]
    for part in parts[1:]:
        if len("usage: ") + len(line) + 1 + len(part) > width and line.strip():
            lines.append(line)
            line = indent + part
        else:
            line += " " + part
    return "\n".join([*lines, line])


def parse_import_options(parser: argparse.ArgumentParser, importer, argv: list[str]) -> dict:
    """Parse, then check the importer's rules (argparse already refused a missing required option)."""
    parsed = vars(parser.parse_args(argv))
    given = {option.flag for option in importer.options if option.key in parsed}
    problem = importer.check(given)
    if problem:
        parser.error(problem)  # usage line + message, exit status 2, as argparse's own refusals
    common = {key: parsed.pop(key) for key in ("dtype", "output", "force")}
    return {**common, **importer.keywords(parsed)}


def handle_import(args) -> int:
    from mmerbench.paths import canonical_path
    from mmerbench.registry import NAME_PATTERN, resolve_target

    importable = _importable()
    if args.name is None or getattr(args, "show_help", False):
        args.import_parser.print_help()
        print("\nimportable datasets: " + ", ".join(sorted(importable)))
        return 0 if getattr(args, "show_help", False) else 2
    if args.name not in importable:
        from mmerbench.errors import UnknownNameError

        raise UnknownNameError("importable dataset", args.name, list(importable))
    spec = importable[args.name]
    parser = build_import_parser(args.name, spec)
    try:
        options = parse_import_options(parser, spec.importer, args.rest)
    except SystemExit as exc:  # argparse already printed usage or help
        return int(exc.code or 0)
    dtype, output, force = options.pop("dtype"), options.pop("output"), options.pop("force")
    name = options.pop(DATASET_NAME_DEST, None) or args.name
    if not NAME_PATTERN.match(name):
        raise UsageError(f"invalid dataset name {name!r}: use lower-case letters, digits, '-', '_' or '.'")
    if name != args.name and name in importable:
        raise UsageError(f"{name!r} is a built-in dataset name; choose another name for this table")
    path = Path(output) if output else canonical_path(name)
    if path.is_dir():
        raise UsageError(f"--output {path} is a directory; give the file to write, e.g. {path / (name + '.h5')}")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (dataset {name!r} was imported before); "
                         "pass --force to overwrite it")
    function = resolve_target(spec.importer.target)
    function(output_path=path, name=name, dtype=dtype, **options)
    print(f"imported {name} -> {path}")
    _print_info(path)
    return 0


# --------------------------------------------------------------------------- list / info / verify


def handle_list(args) -> int:
    from mmerbench.paths import canonical_path, data_dir

    importable = _importable()
    rows = []
    for name, spec in sorted(importable.items()):
        path = canonical_path(name)
        rows.append((name, "imported" if path.exists() else "-", spec.summary))
    known = set(importable)
    if data_dir().is_dir():
        for path in sorted(data_dir().glob("*.h5")):
            if path.stem not in known:
                rows.append((path.stem, "imported", "imported table"))
    width = max((len(r[0]) for r in rows), default=4)
    print(f"{'dataset':<{width}}  {'status':<8}  summary")
    for name, status, summary in rows:
        print(f"{name:<{width}}  {status:<8}  {summary}")
    print(f"\nimported files live in {data_dir()}")
    return 0


def _resolve_path(name: str) -> Path:
    from mmerbench.paths import canonical_path

    path = Path(name)
    if path.suffix == ".h5" and path.exists():
        return path
    path = canonical_path(name)
    if not path.exists():
        raise UsageError(f"dataset {name!r} has not been imported ({path} does not exist); "
                         f"see `mmerbench data import {name} --help`")
    return path


def handle_info(args) -> int:
    from mmerbench.data.importing import describe_canonical

    info = describe_canonical(_resolve_path(args.name))
    if args.json:
        info["fingerprints"] = {"file": info["fingerprint"], "splits": splits_fingerprint(info)[0]}
        print(json.dumps(info, indent=2))
    else:
        _print_description(info)
    return 0


def _print_info(path: Path) -> None:
    from mmerbench.data.importing import describe_canonical

    _print_description(describe_canonical(path))


def splits_fingerprint(info: dict) -> tuple[str, str]:
    """(splits fingerprint, how it arises): what job records and leaderboards show beside the file's."""
    if "valid" in info["splits"]:
        return info["fingerprint"], "the file's own train/valid/test; same as file"
    from mmerbench.api import dataset_param_defaults
    from mmerbench.data.validation import carved_fingerprint

    try:
        fraction = dataset_param_defaults(info["name"]).get("valid_fraction", 0.1)
    except MMERBenchError:  # a file whose name no plugin registers: the importers' default
        fraction = 0.1
    if not fraction:
        return info["fingerprint"], "no validation split: valid_fraction=0"
    return (carved_fingerprint(info["fingerprint"], fraction, 0),
            f"validation carved from train at load, fraction {fraction}, seed 0: what job records and "
            "leaderboards show; --resample-valid jobs record their own")


def splits_line(info: dict) -> str:
    fingerprint, how = splits_fingerprint(info)
    return f"  splits fingerprint {fingerprint} ({how})"


def _print_description(info: dict) -> None:
    print(f"{info['name']}  file fingerprint {info['fingerprint']}  ({info['path']})")
    print(splits_line(info))
    print(f"  labels ({len(info['label_names'])}{', single-label' if info['single_label'] else ''}): "
          + ", ".join(info["label_names"]))
    print("  modalities: " + ", ".join(f"{m} {d}" for m, d in info["modalities"].items())
          + f"  (stored as {info['dtype']})")
    for split, s in info["splits"].items():
        print(f"  {split}: {s['n']} samples")
        for m, stats in s["lengths"].items():
            print(f"    {m:<8} T={stats['T']:<4} length min {stats['min']} mean {stats['mean']:.1f} "
                  f"max {stats['max']}  missing {stats['missing']}")
        freq = ", ".join(f"{n} {f:.3f}" for n, f in zip(info["label_names"], s["label_frequency"]))
        print(f"    label frequency: {freq}")
    if info.get("source_sha256"):
        for file, digest in info["source_sha256"].items():
            print(f"  source {file}: sha256 {digest}")


def handle_verify(args) -> int:
    from mmerbench.data.canonical import verify_file
    from mmerbench.data.integrity import reimport_hint

    path = _resolve_path(args.name)
    stored, computed, changed = verify_file(path)
    if stored != computed or changed:
        arrays = f"; changed arrays: {', '.join(changed)}" if changed else ""
        print(f"{path}: file fingerprint MISMATCH: stored {stored}, recomputed {computed}{arrays} (the file was modified "
              f"or corrupted; {reimport_hint(args.name)})", file=sys.stderr)
        return 1
    print(f"{path}: file fingerprint {computed} OK (every chunk read and checksummed)")
    from mmerbench.data.importing import describe_canonical

    print(splits_line(describe_canonical(path)))
    return 0


# --------------------------------------------------------------------------- standalone use


def run(argv: list[str]) -> int:
    """Run ``data ...`` without the main CLI (tests, and until ``mmerbench.cli.main`` wires it in)."""
    parser = argparse.ArgumentParser(prog="mmerbench")
    register(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return args.func(args)
    except MMERBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
