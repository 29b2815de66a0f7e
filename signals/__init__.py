"""Sensor signals: readings into per-window aggregates, multivariate anomalies, and when risk happens (time patterns).

No language model here; ``floorwatch.llm`` reads these results as context.
"""
