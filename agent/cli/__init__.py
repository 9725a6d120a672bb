"""The `warden` command line. Each module of this package adds its commands to `cli`
(no hand-written list): `@cli.command()` / `@cli.group()` from agent.cli.app."""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys

from agent.cli.app import cli

#: command modules outside this package, loaded by name when their package is installed: the
#: benchmarks' `warden bench` group (bench/ sits above the CLI: it adds its commands to `cli`, the
#: CLI never imports it; the container image ships without bench/)
OTHER_COMMANDS = ("bench.cli",)


def _load_commands() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in ("app", "output", "render") and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    for name in OTHER_COMMANDS:
        if importlib.util.find_spec(name.partition(".")[0]) is not None:
            importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    _load_commands()
    try:
        return cli.main(args=argv, prog_name="warden", standalone_mode=True) or 0
    except SystemExit as e:
        return int(e.code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
