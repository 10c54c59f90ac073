"""The shared store: SQLAlchemy 2 models (`models`), WGS84 geometry columns (`geometry`), UTC timestamps and
JSON (`types`), engines/sessions/migrations (`db`) and idempotent writes (`upsert`)."""
