"""Industry packs: per-industry workflows, activities, alarm rules and policy additions."""
