"""The tamper-evident audit log: append, query, prove, export, receipts."""
