"""PyTorch modules (needs the ``[train]`` extra)."""
