"""The OData adapter (V2 and V4) of the enterprise port (issue 15)."""

from connectors.enterprise.odata.client import ODataClient

__all__ = ["ODataClient"]
