"""Floorwatch flows."""
