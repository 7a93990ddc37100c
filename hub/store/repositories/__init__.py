"""Repositories over one SQLAlchemy connection, one module per capability:
each returns domain types.
"""
