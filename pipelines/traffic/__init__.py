"""Multimodal traffic counting: tracked road users crossing directional lines, binned counts."""
