"""Floorwatch storage."""
