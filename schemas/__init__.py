"""The typed vocabulary every Floorwatch package speaks: bus events, LLM I/O and database tables."""
