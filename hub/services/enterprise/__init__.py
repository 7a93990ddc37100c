"""ERP connections and what runs over them (issue 15)."""
