"""The ``impasto`` command-line interface."""
