"""The production-control pack: released ERP production orders run on a line."""
