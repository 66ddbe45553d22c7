"""The version of tlkit (read by setuptools without importing the package)."""

__version__ = "0.1.0.dev0"
