"""Floorwatch cli."""
