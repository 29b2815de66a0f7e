"""Incident reports from files into the database (Markdown, JSON Lines, CSV), with personal data redacted."""
