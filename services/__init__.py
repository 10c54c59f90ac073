"""Domain services: keyword-only functions over a SQLAlchemy session that raise domain errors (never HTTP)."""
