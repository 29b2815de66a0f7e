"""``floorwatch model list|export|train``: packaged detection models, ONNX/TensorRT export, fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EXIT_BAD_INPUT = 2

model_app = typer.Typer(
    help="Packaged detection models: list, export (ONNX/TensorRT), fine-tune.", no_args_is_help=True
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _setup() -> None:
    from floorwatch.runtime import configure_offline, set_threads

    configure_offline()
    set_threads(2, 1)


@model_app.command("list")
def list_models() -> None:
    """Show the packaged models and whether their pip packages are installed here."""
    from floorwatch.vision.training import model_inventory

    for row in model_inventory():
        state = "installed" if row.installed else "NOT installed"
        typer.echo(f"{row.name:<8} {state:<14} {row.dist:<22} {row.description}")
        typer.echo(f"{'':<8} {row.path if row.path else row.problem}")


@model_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx, or engine (TensorRT: CUDA + tensorrt)")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Packaged model name or .pt weights path")
    ] = "fall",
    imgsz: Annotated[int, typer.Option("--imgsz", help="Square input size baked into the export")] = 640,
    half: Annotated[bool, typer.Option("--half", help="FP16 weights (needs CUDA)")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: <state dir>/models)")
    ] = None,
) -> None:
    """Export a model to ONNX or a TensorRT engine and print the written file's path."""
    _setup()
    from floorwatch.vision.models import ModelNotFoundError
    from floorwatch.vision.training import ModelToolError, export_model

    try:
        path = export_model(model, fmt.lower(), imgsz=imgsz, half=half, out_dir=out)
    except (ModelToolError, ModelNotFoundError, KeyError) as exc:
        raise _fail(str(exc).strip("'\"")) from exc
    typer.echo(str(path))


@model_app.command("train")
def train(
    data: Annotated[Path, typer.Argument(help="Dataset YAML (ultralytics format: path, train, val, names)")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Base: packaged model name or .pt path")
    ] = "fall",
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs")] = 10,
    imgsz: Annotated[int, typer.Option("--imgsz", help="Square training size")] = 640,
    batch: Annotated[int, typer.Option("--batch", help="Images per batch")] = 8,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or a CUDA index")] = "auto",
    out: Annotated[Path, typer.Option("--out", help="Runs folder")] = Path("runs/train"),
    name: Annotated[str, typer.Option("--name", help="Run name (sub-folder of --out)")] = "floorwatch",
    freeze: Annotated[int, typer.Option("--freeze", min=0, help="Freeze the first N layers (10 = the YOLOv8 backbone)")] = 0,
    hours: Annotated[
        float, typer.Option("--hours", min=0.0, help="Time budget in hours (overrides --epochs; 0 = off)")
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed")] = 0,
) -> None:
    """Fine-tune a model on a YOLO-format dataset and print the best weights' path."""
    _setup()
    from floorwatch.progress import Progress
    from floorwatch.vision.models import ModelNotFoundError
    from floorwatch.vision.training import ModelToolError, train_model

    try:
        with Progress("train epochs", None if hours else epochs, every_s=0.0) as progress:
            weights = train_model(
                data, base=model, epochs=epochs, imgsz=imgsz, out_dir=out, name=name, batch=batch, device=device,
                freeze=freeze or None, seed=seed, on_epoch=progress, **({"time": hours} if hours else {}),
            )
    except (ModelToolError, ModelNotFoundError, KeyError, RuntimeError) as exc:
        raise _fail(str(exc).strip("'\"")) from exc
    typer.echo(str(weights))


def register(app: typer.Typer) -> None:
    """Add ``floorwatch model ...`` to the main command."""
    app.add_typer(model_app, name="model")
