"""The kind of quantity a sensor channel measures, from its unit or its name: the anomaly's category.

A channel is categorised by, in order: its unit (given, or written in the column name as
``Temp (degC)``, ``Pressure [bar]``, ``flow_m3/h``), then the physical quantity named in it
(``temperature``, ``thermocouple``, ``vibration``, ``current``...). The vocabulary is the SI and
common industrial units of each quantity (IEC 60050 names), not words of any one data set.
A generic name (``value``, ``sensor1``) of the only channel of a file may be explained by the file
or asset name (``machine_temperature.csv`` -> ``overheating``).
"""

from __future__ import annotations

import re

CATEGORIES = ("overheating", "vibration", "pressure", "electrical", "flow", "other")

# Units per category, compared case-sensitively after normalising "°", "²", "³" and spaces.
_UNITS: dict[str, tuple[str, ...]] = {
    "overheating": ("degC", "degF", "C", "F", "K", "celsius", "fahrenheit", "kelvin"),
    "vibration": ("g", "mg", "m/s2", "mm/s", "in/s", "ips", "um", "µm", "mil", "m/s^2"),
    "pressure": ("Pa", "kPa", "MPa", "hPa", "bar", "mbar", "psi", "psig", "psia", "atm", "mmHg", "inH2O", "mH2O"),
    "electrical": ("A", "mA", "kA", "V", "mV", "kV", "W", "kW", "MW", "VA", "kVA", "var", "kvar", "Ohm", "ohm"),
    "flow": ("m3/h", "m3/s", "l/min", "L/min", "l/s", "L/s", "lpm", "gpm", "cfm", "kg/h", "kg/s", "t/h", "Nm3/h"),
}
# Names of the measured quantity (lower case word stems).
_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("overheating", ("temp", "thermo", "heat", "celsius", "fahrenheit", "rtd", "pt100")),
    ("vibration", ("vibr", "accel", "acceleration", "velocity rms", "displacement", "shock")),
    ("pressure", ("press", "vacuum", "manometer")),
    ("electrical", ("current", "volt", "amper", "amp", "power", "watt", "energy", "kwh", "resistance", "phase")),
    ("flow", ("flow", "throughput", "discharge")),
)
_BRACKETED_UNIT = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]\s*$")
_SUFFIX_UNIT = re.compile(r"[_\s-]([A-Za-z°µ/0-9^²³]+)$")


def _norm_unit(unit: str) -> str:
    return unit.strip().replace("°", "deg").replace("²", "2").replace("³", "3").replace(" ", "")


def unit_category(unit: str | None) -> str:
    """Category of a unit (``degC`` -> ``overheating``, ``bar`` -> ``pressure``); ``other`` if unknown."""
    if not unit:
        return "other"
    u = _norm_unit(unit)
    return next((cat for cat, units in _UNITS.items() if u in units or u.lower() in {x.lower() for x in units if len(x) > 2}), "other")


def unit_in_name(name: str) -> str | None:
    """A unit written in a column name: ``Temp (degC)``, ``P [bar]`` or a suffix ``flow_m3/h``; else ``None``."""
    m = _BRACKETED_UNIT.search(name)
    if m:
        return m.group(1)
    m = _SUFFIX_UNIT.search(name)
    if m and len(m.group(1)) > 1 and unit_category(m.group(1)) != "other":  # "Phase_C" is not Celsius
        return m.group(1)
    return None


def channel_category(name: str, unit: str | None = None, context: str | None = None) -> str:
    """Category of a channel: by its unit (given or in the name), then its name, then ``context``.

    Args:
        name: column name (``Thermocouple``, ``Temp (degC)``, ``value``).
        unit: the channel's unit when known separately.
        context: file or asset name, used only when the name says nothing (a one-channel file).

    Returns:
        One of ``CATEGORIES`` (``other`` when nothing is recognised).
    """
    for u in (unit, unit_in_name(name)):
        cat = unit_category(u)
        if cat != "other":
            return cat
    for text in (name, context or ""):
        low = text.lower().replace("_", " ")
        cat = next((c for c, cues in _NAMES if any(cue in low for cue in cues)), "other")
        if cat != "other":
            return cat
    return "other"
