"""One module per exported method, each supplying only what differs: its :class:`~impasto.export.pipeline.ExportPlan`.

``feedforward``, ``bank``, ``multimodal`` and ``warpnet`` build a plan from a checkpoint
(``checkpoint_plan(net, ckpt, path)``); ``wct`` builds the PhotoWCT / WCT pipeline from
decoder checkpoints and the VGG16 weights.
"""
