"""Floorwatch versions."""
