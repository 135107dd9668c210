"""The package version: a leaf module, so that nothing imports the package itself to learn it."""

__version__ = "0.1.0"
