"""A tiny MJPEG-over-HTTP camera for tests: ``python tests/mjpeg_server.py PORT [FPS]``.

Serves ``multipart/x-mixed-replace`` JPEG frames (a moving square with the frame number) at ``/stream``,
like a cheap IP camera. Killing the process is how the tests simulate a camera outage.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "floorwatchframe"


def _frame(n: int) -> bytes:
    img = np.full((120, 160, 3), 40, dtype=np.uint8)
    x = (n * 4) % 140
    cv2.rectangle(img, (x, 40), (x + 20, 80), (0, 255, 0), -1)
    cv2.putText(img, str(n), (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


class _Handler(BaseHTTPRequestHandler):
    fps = 20.0

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if self.path != "/stream":
            self.send_error(404, "no such stream")
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        n = 0
        try:
            while True:
                jpg = _frame(n)
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n".encode()
                )
                self.wfile.write(jpg + b"\r\n")
                self.wfile.flush()
                n += 1
                time.sleep(1.0 / self.fps)
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, *args: object) -> None:
        return


def main() -> None:
    port = int(sys.argv[1])
    _Handler.fps = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
