"""gofix-conc: find Go concurrency pitfalls and fix them."""

__version__ = "0.1.0"
