"""LAPI: French licence-plate reading, entry/exit matching, parking occupancy, GDPR by design."""
