"""Federation: carrying signed messages to other organisations' hubs (issue 18)."""
