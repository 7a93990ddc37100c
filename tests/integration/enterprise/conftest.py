"""The enterprise (OData) integration tests run against the sample ERP (tests/support/erp.py)."""

from tests.support.erp import sample_erp  # noqa: F401  (the session fixture)
