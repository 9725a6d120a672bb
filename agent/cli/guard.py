"""`warden guard score`: score prompts offline with the shipped prompt-injection guard."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import click

from agent.cli.app import Fraction, cli
from agent.cli.output import emit_json
from core.progress import Bar


@cli.group()
def guard() -> None:
    """The prompt-injection / jailbreak guard."""


@guard.command("score")
@click.option("--in", "in_path", required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="JSON lines, each with `text`, `prompt` or `messages` (`-`: standard input).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="The same lines with `score` (0..1) and `blocked` added (`error` where not scored; "
                   "`-`: standard output).")
@click.option("--threshold", type=Fraction(0, 1), default=None,
              help="Block at or above this score, 0..1 (default: the model's).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary (rows, blocked, errors, threshold, out, failed lines) as JSON.")
def score(in_path, out_path, threshold, as_json) -> None:
    """Score a file of prompts; exits 1 when any line could not be scored (each is listed)."""
    from detectors.guard.cli_support import score_file
    if out_path == "-" and as_json:
        raise click.UsageError("--json prints the summary on standard output: give --out a file")
    if out_path != "-":
        _check_writable(out_path)
    in_place = in_path != "-" and out_path != "-" and Path(out_path).exists() and os.path.samefile(in_path, out_path)
    # scored into a scratch file first: --out may name the input itself, and an interrupted or failed
    # run leaves an existing --out as it was
    with tempfile.TemporaryDirectory(prefix="warden-guard-") as tmp:
        src = _from_stdin(Path(tmp) / "in.jsonl") if in_path == "-" else in_path
        dst = str(Path(tmp) / "out.jsonl")
        with open(src, "rb") as f:
            total = sum(1 for line in f if line.strip())
        with Bar("guard score", total, enabled=not as_json and out_path != "-") as bar:
            res = score_file(src, dst, threshold, on_rows=bar.update)
        if in_place and res.failed:
            pass        # the lines it could not read would be lost, and the line numbers below name them
        elif out_path == "-":
            with open(dst, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            try:
                shutil.copyfile(dst, out_path)
            except OSError as e:
                raise click.ClickException(f"cannot write --out {out_path}: {e.strerror}") from None
    if as_json:
        emit_json({"rows": res.rows, "blocked": res.blocked, "errors": res.errors, "threshold": res.threshold,
                   "out": None if in_place and res.failed else out_path, "failed": res.failed})
    else:
        for msg in res.failed:
            click.echo(f"{in_path}: {msg}", err=True)
        kept = in_place and res.failed
        click.echo(f"{res.rows} rows, {res.blocked} blocked, {res.errors} not scored (threshold {res.threshold:.3f})"
                   + (f"; {in_path} left as it was: it is also --out, and the {len(res.failed)} lines above would be "
                      "lost (fix them, or give --out another file)" if kept else
                      f" → {'standard output' if out_path == '-' else out_path}"), err=True)
    if res.failed:
        raise SystemExit(1)


def _check_writable(out_path: str) -> None:
    """A usage error now, before any scoring, when --out cannot be written (no such folder, read-only)."""
    parent = Path(out_path).parent
    if not parent.is_dir():
        raise click.BadParameter(f"folder {str(parent)!r} does not exist", param_hint="'--out'")
    target = Path(out_path)
    if not os.access(target if target.exists() else parent, os.W_OK):
        raise click.BadParameter(f"{out_path!r} is not writable", param_hint="'--out'")


def _from_stdin(path: Path) -> str:
    """Standard input copied to `path` (the scorer reads a file twice: to count, then to score)."""
    with open(path, "wb") as f:
        shutil.copyfileobj(sys.stdin.buffer, f)
    return str(path)
