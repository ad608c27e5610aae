"""The package's version: written into every saved model, and read by the build (``pyproject.toml``)."""

__version__ = "0.1.0"
