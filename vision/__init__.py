"""Floorwatch vision."""
