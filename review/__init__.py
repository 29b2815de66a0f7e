"""Floorwatch review."""
