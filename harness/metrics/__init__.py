"""Prometheus metrics of the validator service, served at `/metrics` beside `/status` (docs/operations.md)."""
