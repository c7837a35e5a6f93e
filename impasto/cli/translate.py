"""``impasto translate``: image-to-image translation with an exported MUNIT model (torch-free).

``impasto translate IMAGE --model munit.onnx --to b -o OUT.png`` runs the direction ending
in domain ``b`` (the graph ``munit.a2b.onnx``). The target style is ``--random N`` style
codes from the prior ``N(0, I)`` (``--seed S`` repeats a run; without it a seed is drawn
and reported) or the style code of ``--reference REF``, an image of the target domain.
Several outputs go to numbered files (``OUT_01.png`` ...) or, with ``--sheet``, to one
contact sheet at ``OUT`` (the input first). Every output is checked writable before the
model runs and written atomically after all of them are rendered.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from impasto.cli.batch import STDIO, check_image_output, check_stdin_once, read_input, report, write_output
from impasto.cli.common import CliError, add_backend_args, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate an image to another domain with a MUNIT model (random or "
                                         "reference styles)",
                       description="impasto translate IMAGE --model munit.onnx --to b -o OUT "
                                   "[--random N [--seed S] [--sheet] | --reference REF] [--json]")
    p.add_argument("image", help="the image to translate, of the model's other domain (- for stdin)")
    p.add_argument("--model", required=True, metavar="munit.onnx",
                   help="a MUNIT model: the stem of munit.a2b.onnx / munit.b2a.onnx, or one of those files "
                        "(impasto export munit, impasto convert munit)")
    p.add_argument("--to", metavar="DOMAIN",
                   help="target domain: 'a', 'b' or its name (needed with a stem; checked with a file)")
    p.add_argument("-o", "--output", required=True,
                   help="image to write (.png, .jpg, ...); several outputs: OUT_01.png, ... or one --sheet")
    style = p.add_mutually_exclusive_group()
    style.add_argument("--random", type=positive_int, metavar="N",
                       help="N outputs with style codes drawn from N(0, I) (default: 1)")
    style.add_argument("--reference", metavar="REF", help="use the style of this image of the target domain")
    p.add_argument("--seed", type=int, metavar="S", help="seed of the random style codes (default: drawn, reported)")
    p.add_argument("--sheet", action="store_true", help="several outputs: one contact sheet at OUT, input first")
    add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (no progress bar)")
    p.set_defaults(func=run)


def output_paths(output: str, count: int, sheet: bool) -> list[str]:
    """Where ``count`` results go: ``output`` itself for one (or a sheet), else ``stem_01.ext`` ..."""
    if count == 1 or sheet:
        return [output]
    p = Path(output)
    digits = max(2, len(str(count)))
    return [str(p.with_name(f"{p.stem}_{i:0{digits}d}{p.suffix}")) for i in range(1, count + 1)]


def _check(args: argparse.Namespace) -> list[str]:
    if args.reference is not None and (args.seed is not None or args.sheet):
        raise CliError("--seed/--sheet: apply to --random styles, not to --reference")
    if args.seed is not None and args.seed < 0:
        raise CliError(f"--seed: expected a non-negative integer, got {args.seed}")
    check_stdin_once(args.image, args.reference)
    count = args.random or 1
    paths = output_paths(args.output, count, args.sheet)
    if args.output == STDIO and len(paths) > 1:
        raise CliError(f"-o -: one image goes to stdout, got {count} outputs (use --sheet or a file name)")
    for path in paths:
        check_image_output(path, args.image, args.reference, flag="-o")
    return paths


def run(args: argparse.Namespace) -> int:
    from impasto.runtime.pipelines.translate import MUNITTranslator
    from impasto.utils.progress import Progress

    paths = _check(args)
    t0 = time.perf_counter()
    image = read_input(args.image)
    reference = read_input(args.reference) if args.reference is not None else None
    with MUNITTranslator.load(args.model, to=args.to, backend=args.backend) as model:
        count = 1 if reference is not None else args.random or 1
        with Progress(count, "translate", enabled=not args.json) as bar:
            res = model.run(image, random=None if reference is not None else count, seed=args.seed,
                            reference=reference, progress=lambda done: bar.update(done - bar.n))
        info = model.describe()
    images = res["images"]
    if args.sheet and len(images) > 1:
        from impasto.runtime.io.images import to_rgb8
        from impasto.runtime.pipelines.sheet import contact_sheet

        tiles = [("input", to_rgb8(image))]  # the outputs have the input's size
        tiles += [(f"style {i + 1}", img) for i, img in enumerate(images)]
        images = [contact_sheet(tiles)]
    for path, img in zip(paths, images):
        write_output(path, img)
    summary: dict[str, Any] = {
        "model": info["model"], "source": info["source"], "target": info["target"], "provider": info["provider"],
        "image": args.image, "reference": args.reference, "outputs": paths, "size": res["size"],
        "seed": res["seed"], "codes": res["codes"], "reference_style": res["reference_style"],
        "seconds": {**res["seconds"], "command": round(time.perf_counter() - t0, 3)}}
    how = f"the style of {args.reference}" if reference is not None else (
        f"{len(res['codes'])} random style{'s' * (len(res['codes']) > 1)} (seed {res['seed']})")
    report(summary, f"{', '.join(paths)}: {info['source']} -> {info['target']}, {how}, "
                    f"{res['seconds']['total']} s", as_json=args.json, to_stdout=args.output == STDIO)
    return 0

