"""The task feed: held-out tool-call tasks a curator prepares ahead of time, time-locked to a drand round and
signed by the curator's hotkey, so that nobody (the curator included) can read an epoch's batch before its
seed block and every validator then reads the same bytes (docs/feed.md).

Modules, one job each: `tasks` (what a round carries: the decrypted entries or the failure), `batch` (the signed,
locked file format), `beacon` (who releases a drand round's signature), `source` (bounded reads and publishing,
folder or HTTP), `reader` (a batch from a source to its entries, every failure named `feed/<class>`), `curator`
(splitting a pool into locked batches), `paraphrase` (the curator's optional rewrite), `round_feed` (what a round
read, kept in the state store so a resumed round reuses it).
"""
