"""Wildfire watch: smoke and flame detection, confirmation, bearings, triangulation, alerts."""
