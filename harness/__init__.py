"""Sandboxed evaluation harness for Bittensor subnet validators."""

__version__ = "0.1.0"
