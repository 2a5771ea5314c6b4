"""The chain interface, its embedded local implementation, the bittensor adapter, commitments."""
