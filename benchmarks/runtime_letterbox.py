"""Why exported models found fewer boxes (#17: 128 vs 145): torch vs a fixed 320x320 ONNX export vs the dynamic export.

Raw ``YOLO.predict`` (conf 0.25, ultralytics' default), 320 px, the first 75 frames of ``vtest.avi``, box counts.
A fixed-shape export is letterboxed to its square; torch and dynamic exports to the minimum rectangle.

    .venv/bin/python benchmarks/runtime_letterbox.py
"""
import shutil
import tempfile
from pathlib import Path

import cv2

from floorwatch.runtime import configure_offline, set_threads

configure_offline()
set_threads(2, 1)
from ultralytics import YOLO  # noqa: E402

from floorwatch.vision.models import packaged_weights  # noqa: E402
from floorwatch.vision.runtimes import cached_export  # noqa: E402

w = packaged_weights("fall")
REPO = Path(__file__).resolve().parents[1]
cap = cv2.VideoCapture(str(REPO / "sample_media" / "vtest.avi"))
frames = [cap.read()[1] for _ in range(75)]
tmp = Path(tempfile.mkdtemp())
shutil.copy(w, tmp / "fall.pt")
static = YOLO(str(tmp / "fall.pt")).export(format="onnx", imgsz=320, verbose=False)
models = {"torch": YOLO(str(w)), "onnx fixed 320x320": YOLO(static, task="detect"),
          "onnx dynamic (runtime cache)": YOLO(str(cached_export(w, "onnxruntime", 320)), task="detect")}
for name, m in models.items():
    n = 0
    for f in frames:
        r = m.predict(f, imgsz=320, device="cpu", verbose=False)[0]
        n += len(r.boxes)
    print(f"{name}: {n} boxes (conf 0.25 default)", flush=True)
shutil.rmtree(tmp, ignore_errors=True)
