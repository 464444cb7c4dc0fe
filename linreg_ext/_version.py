"""The package version, read by pyproject.toml and by linreg_ext.__version__."""

__version__ = "0.1.0"
