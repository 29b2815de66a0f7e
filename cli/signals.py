"""SIGINT / SIGTERM for the long-running commands (``watch``, ``sink``): both set the command's stop event."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any


def stop_on_signals(stop: threading.Event, what: str) -> None:
    """Ctrl-C (SIGINT) and SIGTERM (``docker stop``, systemd) set ``stop``; ``what`` is logged with the signal.

    Installed explicitly for both signals: a process started in the background by a non-interactive shell
    inherits SIGINT *ignored*, and Python then never raises KeyboardInterrupt for it.
    """

    def _stop(signum: int, _frame: Any) -> None:
        logging.getLogger(__name__).info("signal %d: %s", signum, what)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
