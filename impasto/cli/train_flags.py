"""What every ``impasto train METHOD`` shares: flags from its configuration dataclass, the run, the output.

Torch-free: the configurations (:mod:`impasto.training.configs`) declare their flags in
field metadata; torch loads only when a run starts. No ``register`` here, so this module
is not a command of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import typing
from collections.abc import Callable
from typing import Any

from impasto.cli.common import CliError, emit_json, positive_float, positive_int
from impasto.errors import TrainingDivergedError
from impasto.training.configs import Flag

#: Exit code of a run that diverged (a user error is 2).
EXIT_DIVERGED = 1


def _flag_fields(cls: type) -> list[tuple[dataclasses.Field, Flag]]:
    return [(f, f.metadata["flag"]) for f in dataclasses.fields(cls) if "flag" in f.metadata]


def _value_type(hint: Any, spec: Flag) -> Callable[[str], Any] | None:
    """The argparse ``type`` of a field: an int (>= 1 or any), a float (>= 0 or any), values, or None for text.

    The flag refuses what is out of its type's range; the configuration checks the exact ``minimum``.
    """
    options = typing.get_args(hint)
    base = next(t for t in options if t is not type(None)) if type(None) in options else hint  # X | None -> X
    if base is int:
        return positive_int if (spec.minimum or 0) >= 1 else int
    if base is float:
        return float if spec.minimum is None else positive_float
    if typing.get_origin(base) is tuple:
        return _comma_separated(typing.get_args(base), spec.minimum)
    return None


def _comma_separated(items: tuple[Any, ...], low: float | None) -> Callable[[str], tuple[Any, ...]]:
    """A parser of ``"a,b"`` into a tuple of ``items`` (``(str, ...)``: any count; ``(int, int)``: two ints)."""
    kind, count = items[0], None if items[-1] is Ellipsis else len(items)
    what = {int: "integers", float: "numbers", str: "values"}[kind] + (f" >= {low:g}" if low is not None else "")

    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(kind(t.strip()) for t in text.split(",") if t.strip())
        except ValueError:
            values = ()
        if not values or (count and len(values) != count) or (low is not None and min(values) < low):
            raise argparse.ArgumentTypeError(f"expected {count or 'one or more'} comma-separated {what}, got {text!r}")
        return values

    return parse


def add_config_arguments(p: argparse.ArgumentParser, cls: type) -> None:
    """One flag per :func:`impasto.training.configs.flag` field of ``cls``; ``-o/--output`` after the required ones."""
    hints = typing.get_type_hints(cls)
    fields = _flag_fields(cls)
    required = [(f, s) for f, s in fields if f.default is dataclasses.MISSING]
    for f, spec in [*required, (None, None), *(x for x in fields if x not in required)]:
        if f is None:
            p.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
            continue
        name = spec.name or f"--{f.name.replace('_', '-')}"
        if hints[f.name] is bool:
            p.add_argument(name, dest=f.name, default=f.default, action="store_false" if f.default else "store_true",
                           help=spec.help)
        else:
            extra = {"required": True} if f.default is dataclasses.MISSING else {"default": f.default}
            p.add_argument(name, dest=f.name, type=_value_type(hints[f.name], spec), choices=spec.choices,
                           metavar=spec.metavar, help=spec.help, **extra)


def add_run_arguments(p: argparse.ArgumentParser, init_help: str) -> None:
    """``--threads``, ``--vgg-weights``, ``--resume``, ``--init`` and ``--json``."""
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--vgg-weights", help="VGG16 weights (default: $IMPASTO_VGG16_WEIGHTS, then torch.hub)")
    p.add_argument("--resume", action="store_true", help="continue the run stored in --output")
    p.add_argument("--init", metavar="CKPT", help=init_help)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """``cls`` built from the parsed flags (fields without a flag keep their defaults)."""
    return cls(**{f.name: getattr(args, f.name) for f, _ in _flag_fields(cls)})


def run_training(args: argparse.Namespace, cls: type, trainer: Callable[..., dict[str, Any]],
                 describe: Callable[[dict[str, Any]], str]) -> int:
    """Build the configuration, train, and print the summary (``--json``) or two lines.

    Args:
        args: the parsed flags.
        cls: the configuration dataclass.
        trainer: ``train_<method>(cfg, out, *, resume, init, progress, command, vgg_weights)``.
        describe: the summary -> what the first output line says in parentheses.

    Returns:
        0, or :data:`EXIT_DIVERGED` after printing a diverged run's error as one line.
    """
    if args.threads < 0:
        raise CliError(f"--threads: expected an integer >= 0, got {args.threads}")
    cfg = config_from_args(cls, args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = "impasto " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        summary = trainer(cfg, args.output, resume=args.resume, init=args.init, progress=True, command=command,
                          vgg_weights=args.vgg_weights)
    except TrainingDivergedError as exc:
        sys.stderr.write(f"impasto: error: {exc}\n")
        return EXIT_DIVERGED
    if summary.get("rank", 0) != 0:  # under torchrun, rank 0 alone reports
        return 0
    if args.json:
        emit_json(summary)
    else:
        print(f"checkpoint: {summary['checkpoint']} ({describe(summary)})")
        print(f"losses: {summary['log']}  plot: {summary['plot']}  preview: {summary['preview']}")
    return 0


def iterations_and_seconds(summary: dict[str, Any]) -> str:
    """``"N iterations, S s"``, the common part of the first output line."""
    return f"{summary['iterations']} iterations, {summary['seconds']} s"
