"""Risk-report quality on the development incidents file (``--limit N`` evenly spaced rows).

The rows go through the risk job's own extraction path (``extract_batch`` with the token-probability judge
on the same llama.cpp context and the MiniLM second opinion, :mod:`floorwatch.llm.judge`), zero-shot (no
labels used); the generated JSON class, the judge's, MiniLM's and the stored product are compared:

* hazard agreement with ``Critical Risk`` mapped by ``benchmarks.incidents.CRITICAL_RISK_MAP`` (the
  table is printed with the results; unmapped labels such as ``Others`` are left out and counted),
  and how often the packaged MiniLM model (cosine to the class definitions) disagrees with the judge;
* Spearman of actual / potential severity with ``Accident Level`` / ``Potential Accident Level``: the stored
  digit and the stored probability-weighted value (``llm.severity.expected_severity``; for the potential
  ``expected_potential``, E[max(actual, potential)], what the zone score reads);
* zone ranking: Spearman across plants (``Local``) of the zone score (``llm/risk.py``; default prior and site prior)
  with the plant's mean ``Potential Accident Level`` (all rows of the file; rows not in the subset
  count at potential 3), as the risk job scores it (probability-weighted potentials) and with the digits only;
* the grounded reduce step on ``--zones`` plants: claims made / verified / dropped, actions with a
  library citation, actions with a manual citation (no manuals are loaded here: 0 expected);
* 95 % bootstrap intervals (rows, or plants for the ranking) beside the stored class, the probability-weighted
  potential and the zone ranking, so a change can be told from the sampling noise of 87 rows or 12 plants;
* seconds per incident through that path (JSON answer + judge + MiniLM), seconds per zone of the reduce, and
  the load average.

Calibrated figures (a calibrator fitted on labelled history) are measured by ``benchmarks/incidents.py``.
Usage: ``nice python benchmarks/risk_quality.py --limit 40 --zones 3``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.incidents import ACCEPTABLE_CLASSES, CRITICAL_RISK_MAP, DEFAULT_CSV, ROMAN, _load, _subset  # noqa: E402
from floorwatch.config import Settings  # noqa: E402
from floorwatch.llm.backends import make_backend  # noqa: E402
from floorwatch.llm.extract import extract_batch  # noqa: E402
from floorwatch.llm.judge import (  # noqa: E402
    DEATH_PROBABILITY,
    Embedder,
    Judgement,
    class_similarities,
    judge_report,
    nearest_class,
    scorer_for,
)
from floorwatch.llm.risk import assess_zones, compute_zone, site_prior  # noqa: E402
from floorwatch.manuals.embed import try_load_embedder  # noqa: E402
from floorwatch.schemas.tables import IncidentExtraction as ExtractionRow  # noqa: E402
from floorwatch.storage.db import session_scope  # noqa: E402
from floorwatch.storage.queries import zone_evidence  # noqa: E402


def _rho(a: list[float], b: list[float]) -> str:
    return f"{spearmanr(a, b).statistic:.3f}" if len(set(a)) > 1 and len(set(b)) > 1 else "n/a"


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(spearmanr(x, y).statistic)


def _share(x: np.ndarray) -> float:
    return float(np.mean(x))


def _ci(statistic: Callable[..., float], *samples: Sequence[float]) -> str:
    """95 % percentile bootstrap interval of ``statistic`` over the rows (scipy.stats.bootstrap, paired
    resampling, 2000 resamples, rng 0): how far the figure could move on another sample of this size.
    Resamples where the statistic is undefined (a constant column) are left out."""
    if len(samples[0]) < 3:  # noqa: PLR2004
        return "95 % CI n/a"
    with warnings.catch_warnings():  # a constant resample: spearmanr's NaN (left out below) and scipy's "BCa" warning
        warnings.simplefilter("ignore")
        res = bootstrap(tuple(np.asarray(x, dtype=float) for x in samples), statistic, paired=True, vectorized=False,
                        n_resamples=2000, method="percentile", rng=0)
    dist = res.bootstrap_distribution[np.isfinite(res.bootstrap_distribution)]
    if dist.size == 0:
        return "95 % CI n/a"
    lo, hi = np.percentile(dist, [2.5, 97.5])
    return f"95 % CI {lo:.2f} to {hi:.2f}"


def _zone_rho(evs: dict, means: dict, override: dict[int, float] | None, field: str = "potential_severity_calibrated") -> str:
    """Zone-score ranking vs the plants' mean label; ``override`` replaces ``field`` of every incident (None where absent)."""
    zs = sorted(evs)
    if override is not None:
        evs = {
            z: ev.model_copy(update={"incidents": [
                i.model_copy(update={field: override.get(i.id)}) for i in ev.incidents
            ]})
            for z, ev in evs.items()
        }
    prior = site_prior(list(evs.values()))
    scores, labels = [compute_zone(evs[z], None).score for z in zs], [means[z] for z in zs]
    default = f"{_rho(scores, labels)} ({_ci(_spearman, scores, labels)} over plants)"
    shrunk = _rho([compute_zone(evs[z], None, prior).score for z in zs], labels)
    return f"{default} (default neutral prior; {shrunk} with llm.site_prior)"


def _minilm() -> Embedder | None:
    emb, why = try_load_embedder(threads=1)
    if emb is None:
        print(f"MiniLM unavailable: {why}", file=sys.stderr)
    return emb


def main() -> int:  # noqa: PLR0915 - one linear report
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--zones", type=int, default=3, help="plants to run the grounded reduce step on")
    ap.add_argument("--backend", default="local")
    ap.add_argument("--severity-questions", action="store_true", help="also ask the judge's anchored severity questions (8 prompts per row)")
    ap.add_argument("--rows", choices=["all", "mappable"], default="all", help="mappable = only rows whose Critical Risk maps to a class")
    args = ap.parse_args()
    if not args.csv.is_file():
        print(f"data not found: {args.csv}", file=sys.stderr)
        return 2
    load0 = os.getloadavg()
    factory, reports = _load(args.csv, f"sqlite:///{tempfile.mkdtemp(prefix='fw-rq-')}/rq.db")
    pool = [r for r in reports if CRITICAL_RISK_MAP.get(r.attributes["Critical Risk"].strip())] if args.rows == "mappable" else reports
    subset = _subset(pool, args.limit)
    settings = Settings()
    backend = make_backend(settings.llm)
    scorer = scorer_for(backend)
    embedder = _minilm()
    t0 = time.perf_counter()
    with session_scope(factory) as s:  # the risk job's own path: JSON answer, then the judge on the same context
        outcomes = extract_batch(s, backend, [s.merge(r) for r in subset], judge=scorer, second_opinion=embedder)
        stored = {row.incident_id: row.raw.get("judge") for row in s.query(ExtractionRow)}
    t_both = (time.perf_counter() - t0) / len(subset)
    judged = {i: Judgement.model_validate(j) for i, j in stored.items() if j}
    if args.severity_questions and scorer is not None:  # the anchored questions: measured only, never stored
        judged = {r.id: judge_report(scorer, r.redacted_text, severity_questions=True) for r in subset}
    by_id = {r.id: r for r in subset}
    ok = [o for o in outcomes if o.extraction is not None]
    pot = {r.id: ROMAN[r.attributes["Potential Accident Level"].strip()] for r in subset}
    act = {r.id: ROMAN[r.attributes["Accident Level"].strip()] for r in subset}
    label = {r.id: CRITICAL_RISK_MAP.get(r.attributes["Critical Risk"].strip()) for r in subset}
    mapped = [i for i in by_id if label[i]]
    # the generated JSON's own class (the stored one is the judge x MiniLM product)
    json_cls = {i: (stored[i] or {}).get("generated", {}).get("hazard_category") for i in by_id if stored.get(i)}
    json_cls |= {o.incident_id: o.extraction.hazard_category for o in ok if o.incident_id not in json_cls}  # type: ignore[union-attr]
    sims = [list(map(float, row)) for row in class_similarities(embedder, [by_id[i].redacted_text for i in by_id])] if embedder else None
    minilm = [nearest_class(row) for row in sims] if sims is not None else None
    lines = [
        f"- rows: {len(subset)} of {len(reports)} (evenly spaced); backend `{backend.name}` ({backend.model_name}); "
        f"load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f} (box shared with other jobs)",
        f"- valid JSON extraction: {len(ok)}/{len(subset)}",
        f"- hazard agreement with mapped Critical Risk: JSON field {sum(json_cls.get(i) == label[i] for i in mapped)}/{len(mapped)}"
        + (f", judge {sum(judged[i].hazard_category == label[i] for i in mapped)}/{len(mapped)}" if judged else "")
        + f" ({len(subset) - len(mapped)} rows with unmapped labels left out)",
    ]
    if minilm is not None:
        second = dict(zip(by_id, minilm, strict=True))
        lines.append(f"- MiniLM alone (cosine to the class definitions) vs mapped label: {sum(second[i] == label[i] for i in mapped)}/{len(mapped)}")
        if judged:
            both = [i for i in mapped if second[i] == judged[i].hazard_category]
            lines.append(
                f"- MiniLM second opinion agrees with the judge on {sum(second[i] == judged[i].hazard_category for i in by_id)}/{len(by_id)} rows; "
                f"where they agree, the class matches the label on {sum(judged[i].hazard_category == label[i] for i in both)}/{len(both)} mapped rows"
            )
    mech = {i: nearest_class(j.mechanism_similarities) for i, j in judged.items() if j.mechanism_similarities}
    if mech:
        lines.append(
            f"- MiniLM on the answer's equipment and causes alone (llm.judge.mechanism_text) vs mapped label: "
            f"{sum(mech.get(i) == label[i] for i in mapped)}/{len(mapped)} ({sum(i in mech for i in mapped)} mapped rows have one)"
        )
    stored_cls = {o.incident_id: o.extraction.hazard_category for o in ok}  # type: ignore[union-attr]
    hits = [float(stored_cls.get(i) == label[i]) for i in mapped]
    lines.append(
        f"- stored class (judge x MiniLM(report) x MiniLM(mechanism), llm.judge.combine_opinions, as the risk job stores it): "
        f"{int(sum(hits))}/{len(mapped)} ({_ci(_share, hits)})"
    )
    admits = {i: ACCEPTABLE_CLASSES.get(by_id[i].attributes["Critical Risk"].strip(), frozenset({label[i]})) for i in mapped}
    lenient = [float(stored_cls.get(i) in admits[i]) for i in mapped]
    lines.append(
        f"- stored class, lenient (a label naming a tool or two classes admits each: {', '.join(sorted(ACCEPTABLE_CLASSES))}; "
        f"not the issue's goal figure): {int(sum(lenient))}/{len(mapped)} ({_ci(_share, lenient)})"
    )
    ids = [o.incident_id for o in ok]
    weighted = [o for o in ok if o.potential_severity_expected is not None and o.severity_expected is not None]
    w_pred: list[float] = [o.potential_severity_expected for o in weighted]  # type: ignore[misc]
    w_label: list[float] = [pot[o.incident_id] for o in weighted]
    lines.append(
        f"- Spearman potential (zero-shot): stored digit (JSON; 5 where a death is stated) {_rho([o.extraction.potential_severity for o in ok], [pot[i] for i in ids])}"  # type: ignore[union-attr]
        + f", probability-weighted (stored, scored) {_rho(w_pred, w_label)} ({_ci(_spearman, w_pred, w_label)}) on {len(weighted)} rows"
        + (f", judge rule {_rho([judged[i].potential_severity for i in by_id], [pot[i] for i in by_id])}" if args.severity_questions and judged else "")
    )
    lines.append(
        f"- Spearman actual (zero-shot): stored digit (JSON; 5 where a death is stated) {_rho([o.extraction.severity for o in ok], [act[i] for i in ids])}"  # type: ignore[union-attr]
        + f", probability-weighted {_rho([o.severity_expected for o in weighted], [act[o.incident_id] for o in weighted])}"  # type: ignore[misc]
        + (f", judge rule {_rho([judged[i].severity for i in by_id], [act[i] for i in by_id])}" if args.severity_questions and judged else "")
    )
    if judged:
        lines.append(
            f"- reports the judge reads as stating a death (P(Yes) >= {DEATH_PROBABILITY}): "
            f"{sum(j.died >= DEATH_PROBABILITY for j in judged.values())}/{len(judged)}; P(Yes) >= 0.5: {sum(j.died >= 0.5 for j in judged.values())}"  # noqa: PLR2004
        )
    lines.append(
        f"- predicted classes: JSON {dict(Counter(json_cls.values()).most_common())}"
        + (f"; judge {dict(Counter(j.hazard_category for j in judged.values()).most_common())}" if judged else "")
    )
    start = min(r.occurred_at for r in reports)  # type: ignore[type-var]
    end = max(r.occurred_at for r in reports) + timedelta(seconds=1)  # type: ignore[operator]
    levels: dict[str, list[int]] = {}
    for r in reports:
        levels.setdefault(r.zone_id or "", []).append(ROMAN[r.attributes["Potential Accident Level"].strip()])
    means = {z: statistics.mean(v) for z, v in levels.items()}
    with session_scope(factory) as s:
        evs = {z: zone_evidence(s, z, start, end) for z in levels}
    lines.append(
        f"- zone ranking Spearman over {len(levels)} plants: as scored (probability-weighted potentials) {_zone_rho(evs, means, None)}"
        + f", digits only {_zone_rho(evs, means, {}, 'potential_severity_expected')}"
        + (f", judged potentials {_zone_rho(evs, means, {i: j.potential_severity for i, j in judged.items()})}" if args.severity_questions and judged else "")
    )
    t0 = time.perf_counter()
    zones = sorted({r.zone_id for r in subset if r.zone_id})[: args.zones]
    with session_scope(factory) as s:
        risks = assess_zones(s, backend, [(evs[z], None, "") for z in zones])
    t_reduce = (time.perf_counter() - t0) / max(1, len(zones))
    audits = [r.narrative for r in risks if r.narrative is not None]
    actions = [a for r in risks for a in r.actions]
    lines += [
        f"- grounded reduce on {len(zones)} plants: claims made {sum(a.made for a in audits)}, verified "
        f"{sum(a.verified for a in audits)}, dropped {sum(a.dropped for a in audits)}; zones on the template summary "
        f"{sum(a.template for a in audits)}; model errors {sum(a.error is not None for a in audits)}",
        f"- actions: {len(actions)}, with a library citation {sum('(control ' in a for a in actions)}, "
        f"with a manual citation {sum('[manual:' in a for a in actions)}; placeholder actions "
        f"{sum(a.strip() in ('gap', '') or a.startswith('manual:') for a in actions)}",
        f"- dropped-claim reasons: {[c.reason for a in audits for c in a.checks if not c.verified][:6]}",
        f"- seconds per incident (JSON answer + judge + MiniLM, the risk job's path): {t_both:.2f}; reduce {t_reduce:.1f} s per zone",
        "- Critical Risk -> class mapping: " + "; ".join(f"{k} -> {v}" for k, v in CRITICAL_RISK_MAP.items()),
    ]
    print(f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC - `benchmarks/risk_quality.py --limit {args.limit} --zones {args.zones} --rows {args.rows}`")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
