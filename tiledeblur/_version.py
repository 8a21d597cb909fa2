"""The version, in one place: the package, pyproject and output metadata read it."""

__version__ = "0.1.0"
