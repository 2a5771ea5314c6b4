"""Pure scoring functions: tool-call checking, caption similarity, aggregation to weights."""
