"""Egress rules per tenant and the check every outbound call makes."""
