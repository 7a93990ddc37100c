"""The enterprise end-to-end tests call the sample ERP (tests/support/erp.py) through the API."""

from tests.support.erp import sample_erp  # noqa: F401  (the session fixture)
