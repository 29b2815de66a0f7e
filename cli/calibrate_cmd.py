"""``floorwatch calibrate severity``: fit the site's severity calibrator on its labelled incident history.

Example::

    floorwatch calibrate severity --label-column "Potential Accident Level"

Reads every incident report whose ``attributes`` hold the label column and that has an ``ok``
extraction (of the prompt version / model pair with the most such rows, unless ``--prompt-version``
/ ``--model`` choose one), stores the out-of-fold calibrated values in ``incident_extractions``
(one transaction), saves the calibrator and prints the cross-validated figures. Later extractions
of the same prompt version and model pick the saved calibrator up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit

EXIT_FILE_ERROR = 1
EXIT_BAD_DATA = 2
EXIT_DB_ERROR = 4


def _fmt(value: float | None) -> str:
    return "n/a (constant)" if value is None else f"{value:.3f}"


def severity(
    label_column: Annotated[str, typer.Option(help="Report attribute holding the label (I-VI or 1-6), e.g. 'Potential Accident Level'")],
    config: ConfigOption = None,
    out: Annotated[Path | None, typer.Option(help="Where to save the calibrator (default: <state dir>/calibration/potential_severity.joblib, the only path extraction reads)")] = None,
    prompt_version: Annotated[str | None, typer.Option(help="Use extractions of this prompt version (default: the most common)")] = None,
    model: Annotated[str | None, typer.Option(help="Use extractions of this model (default: the most common)")] = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="K of the K-fold cross-fitting")] = 5,
    seed: Annotated[int, typer.Option(help="Shuffle seed of the folds")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (nothing else)")] = False,
) -> None:
    """Fit the potential-severity calibrator on labelled, extracted incident reports (exit 2: no/too few/bad labels)."""
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.app import open_database
    from floorwatch.calibration.calibrator import CalibrationError, default_calibration_path
    from floorwatch.calibration.store import calibrate_stored
    from floorwatch.storage.db import SchemaOutdatedError, session_scope

    settings = load_or_exit(config)
    path = out or default_calibration_path()
    try:
        factory = open_database(settings)
        with session_scope(factory) as session:
            result = calibrate_stored(
                session, label_column, out=path, prompt_version=prompt_version, model=model, folds=folds, seed=seed
            )
    except CalibrationError as exc:
        typer.echo(f"calibration refused, nothing written: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_DATA) from exc
    except (SchemaOutdatedError, SQLAlchemyError) as exc:
        typer.echo(f"database error, nothing written: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    except OSError as exc:
        typer.echo(f"cannot save the calibrator to {path}, nothing written: {exc}", err=True)
        raise typer.Exit(EXIT_FILE_ERROR) from exc
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    m = result.metrics
    w = m.weights
    typer.echo(
        f"fitted on {m.n_text} labelled reports (text stage), {m.n} of them with an ok extraction of "
        f"{result.meta.prompt_version} / {result.meta.model} (blend); {m.folds}-fold out-of-fold, seed {m.seed}\n"
        f"Spearman with {label_column!r} on the {m.n} extracted reports: LLM alone {_fmt(m.spearman_llm)}, "
        f"text alone {_fmt(m.spearman_text_on_llm_rows)} (all {m.n_text}: {_fmt(m.spearman_text)}), "
        f"calibrated {_fmt(m.spearman_blend)}\n"
        f"mean absolute error: LLM {m.mae_llm:.2f}, calibrated {m.mae_blend:.2f}\n"
        f"weights: {w['llm']:.3f} x LLM + {w['text']:.3f} x text + {w['intercept']:.3f}\n"
        f"stored: {result.rows_out_of_fold} out-of-fold values, {result.rows_unlabelled} unlabelled reports calibrated\n"
        f"saved: {result.path}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``calibrate`` command group to the ``floorwatch`` app."""
    group = typer.Typer(name="calibrate", help="Fit site calibrators on labelled history.", no_args_is_help=True)
    group.command("severity")(severity)
    app.add_typer(group, name="calibrate")
