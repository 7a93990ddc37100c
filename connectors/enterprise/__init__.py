"""Enterprise adapters behind the enterprise port (the OData connector comes here)."""
