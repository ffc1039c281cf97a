"""The demo page's web server: one HTML page and one JSON endpoint, on the standard library alone.

``GET /`` serves :file:`demo_page.html` (package data, read with
:mod:`importlib.resources`; its JavaScript and CSS are inline, because the page
must work on a machine with no internet and no front-end build).
``POST /api/predict`` takes ``{"image": "<base64 or data: URL of an image file>"}``
and answers::

    {"digit": 7, "probability": 0.98, "probabilities": [10 floats],
     "standardised": "data:image/png;base64,...", "milliseconds": 12.3}

``standardised`` is the 28×28 image the model saw. A request that cannot be
scored (not JSON, bad base64, not an image, no ink, too large) gets a 400 with
``{"error": "<what is wrong and the fix>"}``, which the page shows.

Why :mod:`http.server` and not Flask or MLflow's server: the page needs two
routes, and a threaded standard-library server has nothing to install or
configure. Why the image goes through
:func:`~digit_experiments.inference.encoded_images.standardise_files`: it is
the code the training data and the ``predict`` command go through, so a
drawing scores on the page exactly as the same PNG does with ``predict``.
"""

from __future__ import annotations

import errno
import json
import logging
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import numpy as np

from digit_experiments.core.errors import UserError
from digit_experiments.dataset.io.image_files import MAX_IMAGE_PIXELS
from digit_experiments.inference.encoded_images import UnusableImage, decode_base64, png_base64, standardise_files

log = logging.getLogger(__name__)

#: Largest request body accepted: a 12 MB photo in base64. Larger ones get a 400 (see ``DemoHandler._discard``).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: Refused bodies up to this size are read and dropped so that the client sees the 400 (see ``_discard``).
DISCARD_LIMIT = 4 * MAX_REQUEST_BYTES
#: Seconds a connection may stay silent mid-request or idle between requests before it is closed.
CONNECTION_TIMEOUT = 60
#: Where the page posts images.
PREDICT_PATH = "/api/predict"
#: The page, shipped as package data next to this module.
PAGE_FILE = "demo_page.html"


class BadRequest(ValueError):
    """A request the demo cannot score; its message (naming the fix) goes back to the page with a 400."""


class DemoScorer:
    """Scores image files with a loaded ensemble, one request at a time.

    Args:
        ensemble: A loaded :class:`~digit_experiments.inference.loading.Ensemble`.
        polarity: ``auto``, ``dark_on_light`` or ``light_on_dark`` (as ``predict`` takes it).
        max_pixels: An image declaring more pixels is refused from its header, unread.
    """

    def __init__(self, ensemble: Any, polarity: str = "auto", max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.ensemble = ensemble
        self.polarity = polarity
        self.max_pixels = max_pixels
        # Keras models are not documented as safe to call from several threads at once, and on
        # a 2-core machine parallel calls would not be faster anyway: requests take turns.
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Score one blank image, so the first visitor does not wait for graph building (about a second)."""
        self._probabilities(np.zeros((1, 28, 28), np.uint8))

    def answer(self, image_text: Any) -> dict[str, Any]:
        """The page's answer for one image file in base64.

        Args:
            image_text: The file as base64 text, or a ``data:`` URL (what ``canvas.toDataURL()`` gives).

        Returns:
            ``digit``, ``probability``, the ten ``probabilities``, the ``standardised``
            28×28 image as a PNG data URL, and the ``milliseconds`` the server spent.

        Raises:
            BadRequest: for text that is not base64 or bytes that are not a usable image.
        """
        start = time.perf_counter()
        image = self.standardised(image_text)
        probabilities = self._probabilities(image[None])[0]
        digit = int(np.argmax(probabilities))
        return {
            "digit": digit,
            "probability": float(probabilities[digit]),
            "probabilities": [float(p) for p in probabilities],
            "standardised": png_data_url(image),
            "milliseconds": round((time.perf_counter() - start) * 1000, 2),
        }

    def standardised(self, image_text: Any) -> np.ndarray:
        """Decode base64 text and standardise the image as the training data was: ``(28, 28)`` uint8.

        Raises:
            BadRequest: naming what is wrong with the text or the image.
        """
        try:
            data = decode_base64(image_text)
        except ValueError as error:
            raise BadRequest(f'The "image" is {error}. Send the file\'s bytes in base64 or as a data: URL.') from None
        try:
            return standardise_files([data], self.polarity, self.max_pixels)[0]
        except UnusableImage as error:
            raise BadRequest(f"The file cannot be used: {error.reason}. {error.fix}.") from None

    def _probabilities(self, images: np.ndarray) -> np.ndarray:
        with self._lock:
            return self.ensemble.probabilities(images)


def png_data_url(image: np.ndarray) -> str:
    """A uint8 greyscale image as a ``data:image/png;base64,...`` URL, for an ``<img>`` on the page."""
    return "data:image/png;base64," + png_base64(image)


def image_field(body: bytes) -> Any:
    """The ``image`` value of a JSON request body.

    Raises:
        BadRequest: when the body is not a JSON object with an ``image`` key.
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict) or "image" not in payload:
        raise BadRequest('Send a JSON object {"image": "<the image file in base64, or a data: URL>"}.')
    return payload["image"]


def page() -> bytes:
    """The demo page's HTML, read from the installed package (see :data:`PAGE_FILE`)."""
    return resources.files(__package__).joinpath(PAGE_FILE).read_bytes()


class DemoServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the scorer and the page its handlers serve.

    Args:
        address: ``(host, port)``; port 0 picks a free port (see :attr:`url`).
        scorer: What scores the images; None until the model is loaded (requests wait in
            the listen queue until :meth:`serve_forever` runs, so None is never seen).
    """

    daemon_threads = True  # an open keep-alive connection must not keep Ctrl+C from exiting
    allow_reuse_port = False  # two demos on one port would split the requests between them

    def __init__(self, address: tuple[str, int], scorer: DemoScorer | None = None) -> None:
        super().__init__(address, DemoHandler)
        self.scorer = scorer
        self.page = page()

    def handle_error(self, request: Any, client_address: tuple[str, int]) -> None:
        """Log a failed request: one DEBUG line when the client went away, the traceback otherwise.

        A visitor closing the tab mid-answer is routine; socketserver's default
        would print a traceback on stderr for it.
        """
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("%s went away: %s", client_address[0], error)
        else:
            log.exception("Request from %s failed", client_address[0])

    @property
    def url(self) -> str:
        """The page's address, with the port actually bound."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class DemoHandler(BaseHTTPRequestHandler):
    """``GET /`` → the page; ``POST /api/predict`` → the answer (see the module docstring)."""

    server: DemoServer
    protocol_version = "HTTP/1.1"  # keep-alive: each stroke's request reuses the connection
    timeout = CONNECTION_TIMEOUT  # a client that stops sending must not hold a thread for ever

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        """Serve the page; a JSON 405 for the API (it takes POST), a JSON 404 for anything else."""
        route = self.path.split("?", 1)[0]
        if route in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        elif route == PREDICT_PATH:
            message = f"{PREDICT_PATH} takes POST with a JSON body {{\"image\": \"<base64>\"}}."
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": message}, {"Allow": "POST"})
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"Nothing at {self.path}; open / for the page."})

    def do_POST(self) -> None:  # noqa: N802
        """Score the posted image, or answer 400 with the reason."""
        if self.path != PREDICT_PATH:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"POST images to {PREDICT_PATH}."})
            return
        try:
            answer = self.server.scorer.answer(image_field(self._body()))
        except BadRequest as error:
            log.info("400 for %s: %s", self.client_address[0], error)
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        except Exception as error:  # noqa: BLE001  (the page must show something, not hang)
            log.exception("Scoring failed")
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": f"The model failed on this image ({type(error).__name__}: {error}); the demo's log has the details."
            })
            return
        log.debug("%s: digit %d (%.3f) in %.1f ms", self.client_address[0], answer["digit"],
                  answer["probability"], answer["milliseconds"])
        self._send_json(HTTPStatus.OK, answer)

    def _body(self) -> bytes:
        """The request body; beyond :data:`MAX_REQUEST_BYTES` it is dropped and refused.

        Raises:
            BadRequest: for a missing, invalid or too large ``Content-Length``.
        """
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise BadRequest("The request has no valid Content-Length header; send the JSON body with one.") from None
        if length > MAX_REQUEST_BYTES:
            self._discard(length)
            raise BadRequest(
                f"The request is {length / 2**20:.1f} MB, over this demo's limit of "
                f"{MAX_REQUEST_BYTES / 2**20:.0f} MB; send a smaller image (shrink or crop the photo)."
            )
        return self.rfile.read(max(length, 0))

    def _discard(self, length: int) -> None:
        """Read and drop a refused body, then close the connection.

        A browser still sending its body when the 400 comes shows a network
        error rather than the message; so bodies up to :data:`DISCARD_LIMIT` are
        read (without keeping them) before answering. Beyond that the
        connection is closed at once, and the client may see a reset instead.
        """
        self.close_connection = True
        if length > DISCARD_LIMIT:
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                return
            length -= len(chunk)

    def _send_json(self, status: HTTPStatus, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (http.server's signature)
        """Request lines at DEBUG level: by default every stroke would print a line on stderr."""
        log.debug("%s " + format, self.client_address[0], *args)


def bind(host: str, port: int) -> DemoServer:
    """Open the demo's listening socket (before the model loads, so a taken port fails in a second).

    Args:
        host: The interface to listen on (``127.0.0.1``: this machine only).
        port: The TCP port; 0 picks any free one.

    Returns:
        The bound server, with no scorer yet.

    Raises:
        UserError: when the port is taken or the address cannot be used, naming the fix.
    """
    try:
        return DemoServer((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UserError(
                f"Port {port} on {host} is already in use (another demo, or another server, is listening "
                f"there). Stop that program, or pick another port: `port=0` takes any free one (the log "
                f"shows which), or e.g. `port={port + 1}`."
            ) from None
        raise UserError(
            f"Cannot listen on {host}:{port}: {error.strerror or error}. Use `host=127.0.0.1` and a port "
            "above 1023 (or `port=0` for any free one)."
        ) from None


def serve(server: DemoServer, scorer: DemoScorer) -> None:
    """Answer requests with ``scorer`` until interrupted (Ctrl+C raises ``KeyboardInterrupt`` out of here).

    Args:
        server: A server from :func:`bind`; the caller closes it.
        scorer: The loaded model behind the page.
    """
    server.scorer = scorer
    server.serve_forever(poll_interval=0.2)
