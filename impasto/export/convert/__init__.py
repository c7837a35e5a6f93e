"""``impasto convert``: models trained elsewhere -> impasto graphs, parity-gated, with a card.

One module per source format (``fast_neural_style``, ``torch7``, ``fastphotostyle``,
``microast``, ``onnx_graph``), each with one entry point::

    convert(sources: Sequence[Path], output: Path, *, license: str | None, command: str,
            **options) -> dict            # the report, JSON-ready

A converter reads the source with ``weights_only=True`` (or as ONNX), rebuilds the
upstream network in PyTorch (re-implemented from the upstream code's layer order, never
copied) or keeps the ONNX graph, and writes through :func:`impasto.export.pipeline.export_plan`
(or, for ONNX sources, the same checks by hand): ONNX Runtime against the source's own
forward at three sizes, one odd, max abs error <= 1e-4 on [0, 1] images, or nothing is
written. The card (``impasto.card``) carries :func:`impasto.export.convert.common.source_card`.
"""
