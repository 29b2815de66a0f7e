"""Safety manuals: splitting (Markdown, text, PDF), storing (idempotent), bad files, retrieval, gaps, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from floorwatch.manuals.retrieval import (
    HAZARD_QUERIES,
    MIN_EMBEDDING_SIMILARITY,
    ManualIndex,
    hazard_query,
    nearest_sections,
    procedure_gaps,
    retrieve_sections,
    sections_for_hazards,
)
from floorwatch.manuals.sections import (
    ManualError,
    ingest_manual,
    is_heading_line,
    read_manual,
    section_id,
    split_sections,
)
from floorwatch.schemas.tables import ManualSection
from floorwatch.storage.db import session_scope
from tests.conftest import REPO_ROOT

MANUALS = REPO_ROOT / "sample_media" / "manuals"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _pdf(path: Path, lines: list[str]) -> Path:
    """A real one-page PDF with the given text lines, drawn by matplotlib's PDF backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8.27, 11.69))
    for i, line in enumerate(lines):
        fig.text(0.05, 0.95 - i * 0.03, line, fontsize=9)
    fig.savefig(path, format="pdf")
    plt.close(fig)
    return path


def _rows(factory: sessionmaker[Session]) -> list[ManualSection]:
    with session_scope(factory) as s:
        return list(s.scalars(select(ManualSection).order_by(ManualSection.document, ManualSection.position)))


# --------------------------------------------------------------------------- splitting
def test_markdown_sections_keep_headings_and_skip_code_fences() -> None:
    text = "Intro line.\n# Title\n\n## 1. Scope\nApplies to presses.\n```\n# not a heading\n```\n## Empty\n\n## 2. Steps\nStop it.\n"
    secs = split_sections("markdown", text, "loto.md")
    assert [(s.heading, s.position) for s in secs] == [("loto", 0), ("1. Scope", 1), ("2. Steps", 2)]
    assert "# not a heading" in secs[1].text and secs[2].text == "Stop it."


def test_long_section_is_split_with_heading_carried_and_overlap() -> None:
    body = " ".join(f"Sentence number {i} about guards." for i in range(200))
    secs = split_sections("markdown", f"## Guards\n{body}\n", "g.md", max_chars=500, overlap=100)
    assert len(secs) > 5 and all(s.heading == "Guards" and len(s.text) <= 500 for s in secs)
    assert [s.position for s in secs] == list(range(len(secs)))
    tail_words = secs[0].text.split()[-3:]
    assert " ".join(tail_words) in secs[1].text  # overlap carries the end of one part into the next


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1.2 Isolation of energy", True),
        ("3. Scope", True),
        ("LOCKOUT PROCEDURE", True),
        ("PPE", True),
        ("The press is stopped.", False),
        ("Stop the machine and lock it out before work starts on it", False),
        ("", False),
        ("12 people were in the hall.", False),
        ("2. Stop the machine with its normal controls.", False),
    ],
)
def test_heading_like_lines(line: str, expected: bool) -> None:
    assert is_heading_line(line) is expected


def test_plain_text_numbered_and_caps_headings() -> None:
    text = "LOCKOUT PROCEDURE\nRead this first.\n\n1.1 Scope\nAll presses.\n1.2 Isolation of energy\nOpen the disconnect.\n"
    secs = split_sections("text", text, "loto.txt")
    assert [(s.heading, s.text) for s in secs] == [
        ("LOCKOUT PROCEDURE", "Read this first."),
        ("1.1 Scope", "All presses."),
        ("1.2 Isolation of energy", "Open the disconnect."),
    ]


def test_plain_text_without_headings_becomes_overlapping_chunks() -> None:
    text = "\n\n".join(
        f"Paragraph {i}: keep the walkway clear of pallets and hoses at all times." for i in range(60)
    )
    secs = split_sections("text", text, "notes.txt", max_chars=600, overlap=120)
    assert (
        len(secs) >= 7
        and secs[0].heading == "notes (part 1)"
        and secs[-1].heading == f"notes (part {len(secs)})"
    )
    assert all(len(s.text) <= 600 for s in secs)
    assert "Paragraph 59" in secs[-1].text


def test_pdf_text_is_extracted_and_split(tmp_path: Path) -> None:
    pdf = _pdf(
        tmp_path / "height.pdf",
        [
            "WORKING AT HEIGHT",
            "Use a harness above 2 metres.",
            "2.1 Ladders",
            "Keep three points of contact.",
        ],
    )
    kind, text = read_manual(pdf)
    assert kind == "pdf" and "harness" in text
    secs = split_sections(kind, text, pdf.name)
    assert [s.heading for s in secs] == ["WORKING AT HEIGHT", "2.1 Ladders"]
    assert "three points of contact" in secs[1].text


# --------------------------------------------------------------------------- bad files
def test_bad_files_name_the_file(tmp_path: Path) -> None:
    cases = {
        _write(tmp_path, "empty.md", ""): "file is empty",
        _write(tmp_path, "blank.txt", " \n\n "): "no text",
        _write(tmp_path, "big.md", "# A\n" + "x" * 5000): "over the limit of 1,000",
        _write(tmp_path, "manual.docx", "x"): "unsupported file type",
        _write(tmp_path, "broken.pdf", "%PDF-1.4 this is not really a pdf"): "unreadable PDF",
        tmp_path / "missing.md": "file not found",
    }
    (tmp_path / "latin1.txt").write_bytes("Sicherheitsschuhe f\xfcr alle".encode("latin-1"))
    cases[tmp_path / "latin1.txt"] = "not UTF-8"
    for path, problem in cases.items():
        with pytest.raises(ManualError) as err:
            read_manual(path, max_bytes=1000)
        assert str(path) in str(err.value) and problem in str(err.value)


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = _pdf(tmp_path / "plain.pdf", ["SECRET PROCEDURE", "Text."])
    writer = PdfWriter()
    for page in PdfReader(str(plain)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="hunter22", owner_password="owner", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as fh:
        writer.write(fh)
    with pytest.raises(ManualError, match=r"locked\.pdf: PDF is encrypted"):
        read_manual(locked)


def test_bad_file_leaves_stored_sections_untouched(
    migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    good = _write(tmp_path, "guide.md", "## Guards\nKeep guards closed.\n")
    with session_scope(migrated_db) as s:
        ingest_manual(s, good)
    good.write_bytes(b"")  # the same document, now empty: refused, old sections kept
    with pytest.raises(ManualError, match="guide.md: file is empty"), session_scope(migrated_db) as s:
        ingest_manual(s, good)
    assert [r.heading for r in _rows(migrated_db)] == ["Guards"]


# --------------------------------------------------------------------------- storing
def test_reingest_is_a_no_op_and_edits_replace_sections(
    migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    p = _write(tmp_path, "loto.md", "# LOTO\n## Scope\nAll presses.\n## Steps\nLock the disconnect.\n")
    with session_scope(migrated_db) as s:
        first = ingest_manual(s, p)
    before = [(r.id, r.ingested_at) for r in _rows(migrated_db)]
    with session_scope(migrated_db) as s:
        second = ingest_manual(s, p)
    assert (first.new, first.unchanged, second.new, second.unchanged, second.removed) == (2, 0, 0, 2, 0)
    assert [(r.id, r.ingested_at) for r in _rows(migrated_db)] == before
    assert before[0][0] == section_id("loto.md", "Scope", "All presses.")
    p.write_text("# LOTO\n## Scope\nAll presses and conveyors.\n## Steps\nLock the disconnect.\n")
    with session_scope(migrated_db) as s:
        third = ingest_manual(s, p)
    assert (third.new, third.unchanged, third.removed) == (1, 1, 1)
    assert [r.text for r in _rows(migrated_db)] == ["All presses and conveyors.", "Lock the disconnect."]


def test_keyword_retrieval_without_embeddings(migrated_db: sessionmaker[Session]) -> None:
    with session_scope(migrated_db) as s:
        for p in sorted(MANUALS.glob("*.md")):
            summary = ingest_manual(s, p, embedder=None, embedding_error="test: keyword only")
            assert summary.embedded == 0 and summary.embedding_error == "test: keyword only"
    with session_scope(migrated_db) as s:
        hits = retrieve_sections(s, "which ladder rungs must I never stand on", k=3, mode="keyword")
        assert hits[0].citation == "working-at-height-and-ppe.md#Ladders and step ladders"
        assert all(h.mode == "keyword" and h.embedding_score is None for h in hits)
        assert retrieve_sections(s, "quarterly payroll spreadsheet", mode="keyword") == []


# --------------------------------------------------------------------------- embeddings (slow: loads MiniLM)
@pytest.fixture(scope="module")
def embedder():  # noqa: ANN201
    from floorwatch.manuals.embed import try_load_embedder

    emb, why = try_load_embedder(threads=1)
    if emb is None:
        pytest.skip(f"packaged MiniLM not loadable: {why}")
    return emb


@pytest.mark.slow
def test_embedding_retrieval_and_gaps(migrated_db: sessionmaker[Session], embedder) -> None:  # noqa: ANN001
    with session_scope(migrated_db) as s:
        assert (
            sum(ingest_manual(s, p, embedder=embedder).embedded for p in sorted(MANUALS.glob("*.md"))) == 24
        )
    rows = _rows(migrated_db)
    assert all(r.embedding is not None and len(r.embedding) == 384 for r in rows)
    with session_scope(migrated_db) as s:
        index = ManualIndex.load(s, embedder)
        expected = {
            "How can I be sure the press will not start while my arm is inside it?": "lockout-tagout.md#5. Verification of zero energy (try step)",
            "Do I need a hard hat in the warehouse?": "working-at-height-and-ppe.md#Required PPE by area",
            "Where should people on foot walk when lift trucks are moving?": "machine-guarding-and-restricted-areas.md#Forklift and pedestrian separation",
        }
        for question, citation in expected.items():
            assert citation in [h.citation for h in index.search(question, k=3, mode="hybrid")], question
        by_hazard = sections_for_hazards(
            index, ["missing_ppe", "caught_in_machinery", "pest control of rats in the canteen"]
        )
        assert by_hazard["missing_ppe"][0].citation == "working-at-height-and-ppe.md#Required PPE by area"
        assert by_hazard["caught_in_machinery"] and by_hazard["pest control of rats in the canteen"] == []
        assert procedure_gaps(by_hazard) == ["pest control of rats in the canteen"]
        # a section is cited for the hazard it is about: "Working at height" speaks of falling, so it
        # clears the floor for a suspended load (struck_by), but it is nearest to fall_from_height
        height = "working-at-height-and-ppe.md#Working at height: when it applies"
        loose = sections_for_hazards(index, ["struck_by", "fall_from_height"], exclusive=False)
        strict = sections_for_hazards(index, ["struck_by", "fall_from_height"])
        assert height in [h.citation for h in loose["struck_by"]]
        assert height not in [h.citation for h in strict["struck_by"]]
        assert strict["fall_from_height"][0].citation == height
        # the gap's nearest section is named for the reader to check; a hazard no section comes near has none
        assert nearest_sections(index, ["struck_by", "pest control of rats in the canteen"]) == {"struck_by": height}


@pytest.mark.slow
def test_a_section_nearest_to_an_alert_rule_still_covers_its_hazard_class(
    migrated_db: sessionmaker[Session], embedder, tmp_path: Path  # noqa: ANN001
) -> None:
    # A site manual's "Hot surfaces" section is nearest to the thermal camera rule hot_spot (it says "hot spot"),
    # which this site need not have: it must still cover burn_hot_surface, not leave a false procedure gap.
    manual = _write(tmp_path, "plant-rules.md", (
        "# Plant safety rules\n\n## Hot surfaces\nOven doors, dryer housings and steam headers run hot. Heat-resistant "
        "gloves and sleeves are worn at the unloading station; report any hot spot on equipment to maintenance.\n\n"
        "## Housekeeping\nKeep walkways clear and dry; clean spills at once and mark wet floors.\n\n"
        "## Lifting\nUse the hoist for sacks over 20 kg; lift with a straight back.\n"
    ))
    with session_scope(migrated_db) as s:
        ingest_manual(s, manual, embedder=embedder)
    with session_scope(migrated_db) as s:
        index = ManualIndex.load(s, embedder)
        hot = next(sec.id for sec in index.sections if sec.heading == "Hot surfaces")
        owners = dict(zip((sec.id for sec in index.sections), index.nearest_topics({h: hazard_query(h) for h in HAZARD_QUERIES}), strict=True))
        assert owners[hot] == "hot_spot"  # the case this test is about
        by_hazard = sections_for_hazards(index, ["burn_hot_surface", "manual_handling", "electrical"])
        assert [h.heading for h in by_hazard["burn_hot_surface"]] == ["Hot surfaces"]
        assert [h.heading for h in by_hazard["manual_handling"]] == ["Lifting"]
        assert procedure_gaps(by_hazard) == ["electrical"]


@pytest.mark.slow
def test_a_spanish_section_is_found_by_its_words_where_the_english_embedding_misses_it(
    migrated_db: sessionmaker[Session], embedder, tmp_path: Path  # noqa: ANN001
) -> None:
    # MiniLM is English-only: a Spanish lockout section with a few English terms is below its cosine floor, but
    # shares several words with the hazard's query, so hybrid search still finds it; one shared word is no match.
    manual = _write(tmp_path, "manual-planta.md", (
        "# Manual de planta\n\n## Bloqueo y etiquetado / Lockout\nAntes de limpiar o ajustar la maquina, el operador "
        "aplica su candado personal y verifica energia cero. Esta prohibido retirar la proteccion (machine guard) con el "
        "equipo en marcha; los puntos de atrapamiento (pinch point) entre rodillos se tratan como zona de peligro.\n\n"
        "## Orden y limpieza\nLos pasillos se mantienen despejados y secos.\n"
    ))
    with session_scope(migrated_db) as s:
        ingest_manual(s, manual, embedder=embedder)
    with session_scope(migrated_db) as s:
        index = ManualIndex.load(s, embedder)
        cosine, _ = index.scores(hazard_query("caught_in_machinery"))
        assert cosine is not None and float(cosine.max()) < MIN_EMBEDDING_SIMILARITY  # the case this test is about
        by_hazard = sections_for_hazards(index, ["caught_in_machinery", "slip_trip"])
        assert [h.heading for h in by_hazard["caught_in_machinery"]] == ["Bloqueo y etiquetado / Lockout"]
        assert by_hazard["slip_trip"] == []
        assert index.search("pest control of rats in the canteen", 3) == []


# --------------------------------------------------------------------------- CLI
def test_cli_ingest_manuals_reports_each_file(tmp_path: Path) -> None:
    from floorwatch.cli.main import app
    from floorwatch.storage.db import make_engine
    from floorwatch.storage.migrate import upgrade

    db = tmp_path / "fw.db"
    upgrade(make_engine(f"sqlite:///{db}"))
    cfg = _write(tmp_path, "fw.yaml", f"database:\n  url: sqlite:///{db}\n")
    empty = _write(tmp_path, "empty.md", "")
    runner = CliRunner()
    args = [
        "ingest",
        "manuals",
        str(MANUALS / "lockout-tagout.md"),
        str(empty),
        "--config",
        str(cfg),
        "--no-embed",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output
    assert "lockout-tagout.md: 8 sections (8 new, 0 unchanged, 0 removed)" in first.output
    assert f"error: {empty}: file is empty" in first.output
    second = runner.invoke(app, args[:3] + args[4:])
    assert second.exit_code == 0 and "(0 new, 8 unchanged, 0 removed)" in second.output
