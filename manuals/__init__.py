"""Safety manuals: parse, split into sections, embed (local MiniLM) and search them (cosine, TF-IDF, hybrid)."""
