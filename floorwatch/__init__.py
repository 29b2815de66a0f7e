"""Floorwatch: factory-safety vision + LLM pipeline."""

__version__ = "0.1.0"
