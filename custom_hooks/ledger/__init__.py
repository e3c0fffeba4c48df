"""The spend ledger: one row per model call, written in batches, and the reports over it."""
