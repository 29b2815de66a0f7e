"""Typed values of the safety-manual path: parsed sections, ingest summaries and retrieval hits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from floorwatch.schemas.time_patterns import PatternSeries, TimePatterns

RetrievalMode = Literal["hybrid", "embedding", "keyword"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParsedSection(_Frozen):
    """One section of a manual as split from the file, before it is stored."""

    heading: str = Field(
        min_length=1, max_length=500, description="Heading the text sits under (carried into parts)"
    )
    text: str = Field(min_length=1, description="Body text of the section (or of one part of a long section)")
    position: int = Field(ge=0, description="Order of the section in its document")


class ManualIngestSummary(_Frozen):
    """What ``ingest_manual`` did with one file."""

    document: str = Field(description="File name the sections are stored under")
    sections: int = Field(ge=0, description="Sections in the file")
    new: int = Field(ge=0, description="Sections stored for the first time")
    unchanged: int = Field(ge=0, description="Sections already stored with the same content")
    removed: int = Field(ge=0, description="Stored sections of this document that are no longer in the file")
    embedded: int = Field(ge=0, description="Sections given an embedding in this run")
    embedding_error: str | None = Field(
        None, description="Why no embeddings were computed (keyword search still works)"
    )

    def line(self) -> str:
        """One human line for the CLI."""
        text = (
            f"{self.document}: {self.sections} sections ({self.new} new, {self.unchanged} unchanged, "
            f"{self.removed} removed), {self.embedded} embedded"
        )
        if self.embedding_error:
            text += f" [embeddings unavailable: {self.embedding_error}]"
        return text


class SectionHit(_Frozen):
    """One manual section found for a query, with the scores it was ranked by."""

    id: str = Field(description="manual_sections.id")
    document: str
    heading: str
    text: str
    position: int = 0
    score: float = Field(description="Ranking score of the mode used (hybrid, cosine or TF-IDF cosine)")
    embedding_score: float | None = Field(
        None, description="Cosine similarity of MiniLM embeddings (None: unavailable)"
    )
    keyword_score: float = Field(description="TF-IDF cosine similarity")
    mode: RetrievalMode = Field(description="How the hit was found")

    @property
    def citation(self) -> str:
        """The reference an LLM cites and a report links: ``document#heading``."""
        return f"{self.document}#{self.heading}"


class ZoneContext(_Frozen):
    """Computed context of one zone for its assessment: manual sections, gaps, time patterns, machine signals (see
    ``floorwatch.llm.risk_context``; the fact sheet states them as facts)."""

    hits_by_hazard: dict[str, list[SectionHit]] = Field(
        default_factory=dict, description="Manual sections per hazard; an empty list is a procedure gap"
    )
    gaps: list[str] = Field(default_factory=list, description="Hazards no manual section covers")
    gap_nearest: dict[str, str] = Field(default_factory=dict, description="Per procedure gap, the manual section ('document#heading') nearest to the hazard above the similarity floor, matched to another topic: a reader checks whether it covers the hazard (absent when none comes near)")
    time_lines: list[str] = Field(
        default_factory=list, description="Time patterns that reject uniform (p < 0.05)"
    )
    signals: list[str] = Field(
        default_factory=list, description="Machine hazard signals (repeated overheating)"
    )
    patterns: list[PatternSeries] = Field(
        default_factory=list, description="The time-pattern series behind ``time_lines`` (p < 0.05)"
    )
    time_patterns: TimePatterns | None = Field(
        None, description="Every time-pattern series of the zone (None for an empty or over-long period)"
    )
    timezone: str = Field("UTC", description="The site's time zone (IANA): the fact sheet writes its dates and times in it")
