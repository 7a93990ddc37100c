"""Tenants, users, memberships and sign-in."""
