"""Model policies: build a manifest from metadata and decide whether a model may be evaluated.

Never imports `harness`, never loads weights, never executes or renders anything from a model repo.
"""
