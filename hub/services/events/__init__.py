"""Events from outside the hub onto a tenant's bus (issue 16: ERP release events, device
events from systems that are not PLCs the hub polls)."""
