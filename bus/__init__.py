"""Floorwatch bus."""
