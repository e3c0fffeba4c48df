"""The ``gateway:`` config sections, one model per area (pure schema, no behaviour)."""
