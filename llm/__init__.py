"""Floorwatch llm."""
