"""Industry packs: catalog, install/upgrade, what pack activities may use, incidents."""
