"""Redaction of names, e-mail addresses and phone numbers, with cases that must survive untouched."""

from __future__ import annotations

import pytest

from floorwatch.ingest.redact import redact, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The operator John Smith was injured at Press Line 3.", "The operator [NAME] was injured at Press Line 3."),
        ("Operator John Smith slipped.", "Operator [NAME] slipped."),
        ("Mr. Cristóbal - Auxiliary assistant climbed up", "[NAME] - Auxiliary assistant climbed up"),
        ("dressed by Dr. Elena Rossi at the clinic", "dressed by [NAME] at the clinic"),
        ("Mr. William de la Cruz arrived", "[NAME] arrived"),
        ("employee Pedro Ramos slipped. Ramos was taken away.", "employee [NAME] slipped. [NAME] was taken away."),
        ("a worker named Luis was hit", "a worker named [NAME] was hit"),
        ("Reported by: Maria Gonzalez\nShift: night", "Reported by: [NAME]\nShift: night"),
        ("Best regards,\nAna María López\nShift Supervisor", "Best regards,\n[NAME]\nShift Supervisor"),
        ("mail j.smith@acme-plant.co.uk now", "mail [EMAIL] now"),
        ("call +44 20 7946 0958 today", "call [PHONE] today"),
        ("call (555) 123-4567 today", "call [PHONE] today"),
        ("ring 555-123-4567", "ring [PHONE]"),
        ("phone 5551234567", "phone [PHONE]"),
    ],
)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Jumbo 08 stopped at level 1880 on 01-01-2016 at 10:14:33.",
        "Pressure 0.054711 bar, temperature 79.3366 C, 2020-03-09.",
        "Local_01 Mining plant: the mechanic supports one end on the drill.",
        "The Boiler Room operator Main Conveyor stopped.",
        "Atlas Copco compressor C-12 tripped; Caterpillar 777 truck parked.",
        "Serial 12345678 and order W12-001, SOP-PL-014, TI-2201.",
        "the supervisor Press Line team checked it",
        "Between 1200 and 1300 kg were lifted by the crane.",
    ],
)
def test_equipment_places_and_numbers_survive(text: str) -> None:
    assert redact_text(text) == text


def test_counts_and_names_reported() -> None:
    r = redact("operator Jane Doe (jane@x.org, +1 415 555 0100) and Mr. Lee; later Doe left")
    assert r.counts == {"name": 3, "email": 1, "phone": 1}
    assert {"Jane", "Doe", "Lee"} <= r.names
    assert "Doe" not in r.text and "jane@" not in r.text and "555" not in r.text
