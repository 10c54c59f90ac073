"""Shoreline monitoring from citizen photos (CoastSnap): registration, rectification, extraction."""
