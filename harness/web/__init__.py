"""The validator's public results: the results page, the signed round and settings documents, and their checks."""
