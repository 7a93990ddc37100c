"""Ledger adapters behind the ledger port: EVM chains through web3."""
