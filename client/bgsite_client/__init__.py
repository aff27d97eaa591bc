"""The bgsite command-line client: `bgsite remove PATH... -o OUT` and friends (see `bgsite --help`)."""

__version__ = "0.1.0"
