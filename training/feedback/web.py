"""The feedback page: a local web server (standard library `http.server`) over a `FeedbackQueue`.

    GET  /                 the page (page.html, with this run's token), /page.js, /page.css
    POST /api/next         {"tab"} -> {"item": {...} | null, "progress"}
    POST /api/answer       {"id", "accepted", "rejected"} -> {"progress"}; 409 if already answered

Security: texts and labels reach the page as JSON and are shown with `textContent` (never parsed
as HTML; the Content-Security-Policy allows no inline script either). Every POST needs the
per-run random token embedded in the page (header `X-Feedback-Token`), a JSON body of at most
`MAX_BODY` bytes (413 beyond), and an Origin (when sent) matching the Host; the Host must name this
machine (localhost, an IP address, the host name or `--host`), which defeats DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import socket
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from gliclass.data import DataError

from .text_queue import AlreadyAnswered, FeedbackQueue, QueueClosed, UnknownText

MAX_BODY = 64 * 1024
TOKEN_HEADER = "X-Feedback-Token"
PAGE_DIR = Path(__file__).resolve().parent
ASSETS = {"/page.js": "text/javascript; charset=utf-8", "/page.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class RequestError(Exception):
    """A request refused with an HTTP status and a one-line reason."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def address_family(host: str) -> socket.AddressFamily:
    """IPv6 for an address with colons, else IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port(host: str, port: int) -> None:
    """Raise `OSError` when the page could not listen on `host:port` (in use, not an address of this
    machine), as `FeedbackServer` would, but without serving."""
    with socket.socket(address_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        probe.bind((host, port))


class FeedbackServer(ThreadingHTTPServer):
    """A threaded HTTP server for one `FeedbackQueue`, with this run's token and allowed Host names."""

    daemon_threads = True

    def __init__(self, queue: FeedbackQueue, host: str = "127.0.0.1", port: int = 8765, top: int = 3) -> None:
        self.queue = queue
        self.top = top
        self.token = secrets.token_urlsafe(32)
        self.host_names = {"localhost", host.strip("[]").lower(), socket.gethostname().lower()}
        self.host_names.add(socket.getfqdn().lower())
        self.address_family = address_family(host)
        super().__init__((host, port), FeedbackHandler)

    @property
    def url(self) -> str:
        """The page's address (with 127.0.0.1 for a server on all interfaces)."""
        host, port = self.server_address[:2]
        shown = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def allows_host(self, host_header: str | None) -> bool:
        """Whether a Host header names this machine: localhost, an IP address, or its own names."""
        if not host_header:
            return False
        name = urlsplit(f"//{host_header}").hostname
        if name is None:
            return False
        if name in self.host_names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def page(self) -> bytes:
        """The page's HTML with this run's token."""
        template = Template((PAGE_DIR / "page.html").read_text(encoding="utf-8"))
        return template.substitute(token=self.token).encode("utf-8")


class FeedbackHandler(BaseHTTPRequestHandler):
    """The page's routes; every refusal is a JSON `{"error": ...}` with its status."""

    server: FeedbackServer
    server_version = "gliclass-feedback"
    sys_version = ""
    timeout = 30  # a silent connection does not hold a thread forever

    def do_GET(self) -> None:
        try:
            self._check_host()
            path = urlsplit(self.path).path
            if path == "/":
                self._send(HTTPStatus.OK, self.server.page(), "text/html; charset=utf-8")
            elif path in ASSETS:
                self._send(HTTPStatus.OK, (PAGE_DIR / path.lstrip("/")).read_bytes(), ASSETS[path])
            else:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no page at {path}.")
        except RequestError as error:
            self._send_error(error)

    def do_POST(self) -> None:
        try:
            self._check_host()
            self._check_origin()
            self._check_token()
            body = self._json_body()
            path = urlsplit(self.path).path
            if path == "/api/next":
                self._send_json(HTTPStatus.OK, self._next(body))
            elif path == "/api/answer":
                self._send_json(HTTPStatus.OK, self._answer(body))
            else:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no action at {path}.")
        except RequestError as error:
            self._send_error(error)
        except Exception as error:  # a model or disk failure: the page is told, the server goes on
            traceback.print_exc()
            self._send_error(RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}"))

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        tab = body.get("tab")
        if tab is not None and (not isinstance(tab, str) or not 0 < len(tab) <= 64):
            raise RequestError(HTTPStatus.BAD_REQUEST, "'tab' must be a string of 1 to 64 characters.")
        queue = self.server.queue
        try:
            item = queue.next_item(tab)
        except QueueClosed as error:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(error)) from error
        return {"item": None if item is None else item.to_dict(self.server.top), "progress": queue.progress()}

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            progress = self.server.queue.answer(body.get("id"), body.get("accepted", []), body.get("rejected", []))
        except UnknownText as error:
            raise RequestError(HTTPStatus.NOT_FOUND, str(error)) from error
        except AlreadyAnswered as error:
            raise RequestError(HTTPStatus.CONFLICT, str(error)) from error
        except QueueClosed as error:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(error)) from error
        except DataError as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(error)) from error
        error = self.server.queue.rescore_error
        return {"progress": progress} if error is None else {"progress": progress, "rescore_error": error}

    def _check_host(self) -> None:
        if not self.server.allows_host(self.headers.get("Host")):
            raise RequestError(HTTPStatus.MISDIRECTED_REQUEST, "the Host header does not name this machine.")

    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host')}":
            raise RequestError(HTTPStatus.FORBIDDEN, "cross-site request refused.")
        if self.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
            raise RequestError(HTTPStatus.FORBIDDEN, "cross-site request refused.")

    def _check_token(self) -> None:
        given = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.server.token.encode("ascii")):
            raise RequestError(HTTPStatus.FORBIDDEN, f"missing or wrong {TOKEN_HEADER}; reload the page.")

    def _json_body(self) -> dict[str, Any]:
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not a chunked body.")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError as error:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required.") from error
        if length < 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, "a negative Content-Length.")
        if length > MAX_BODY:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY} bytes.")
        content_type = self.headers.get_content_type()
        if content_type != "application/json":
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json.")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({error}).") from error
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object.")
        return body

    def _send_error(self, error: RequestError) -> None:
        self.close_connection = True  # an unread body must not be taken for the next request
        self._send_json(error.status, {"error": str(error)})

    def _send_json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Only refusals and failures are logged (to stderr), not every request."""
        if str(code)[:1] in ("4", "5"):
            super().log_request(code, size)


def serve(server: FeedbackServer) -> None:
    """Serve until Ctrl-C, then stop cleanly: no answer is cut midway, and the file is closed."""
    print(f"feedback page: {server.url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.queue.close()
