"""Anchoring signed tree heads on a chain, through the ledger port."""
