"""Losses, data, trainers and optimisation-based methods (needs the ``[train]`` extra)."""
