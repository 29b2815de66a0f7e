"""Floorwatch migrations."""
