"""Drive headless Chromium from the tests over the Chrome DevTools Protocol, through a pipe.

Why this way: ``--remote-debugging-pipe`` is the transport Puppeteer and
Playwright use. It needs no extra package (no websocket client, no
WebDriver), no free TCP port (so no race between parallel test runs), and it
gives what the tests must observe: real mouse clicks dispatched by the
browser, the DOM after scripts ran, uncaught exceptions and console errors,
and screenshots. ``--dump-dom`` or ``--screenshot`` alone could neither click
nor report script errors.

The protocol: JSON messages, each ended by a NUL byte; Chromium reads
commands on its file descriptor 3 and writes replies and events on 4.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

BINARIES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page; ``errors`` collects every JavaScript error it logged."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900, timeout: float = 20.0):
        self.timeout = timeout
        self.errors: list[str] = []
        self._events: list[dict] = []
        self._replies: "queue.Queue[dict]" = queue.Queue()
        self._next_id = 0
        self._profile = tempfile.mkdtemp(prefix="mmerbench-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def as_fds_3_and_4():  # runs in the child before exec: the protocol's fixed descriptors
            high_in = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        arguments = [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                     "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                     "--disable-dev-shm-usage", f"--user-data-dir={self._profile}", f"--window-size={width},{height}",
                     "about:blank"]
        self._process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, close_fds=False, preexec_fn=as_fds_3_and_4)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr: list[bytes] = []
        threading.Thread(target=lambda: self._stderr.extend(self._process.stderr), daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.command(f"{domain}.enable")
        self.command("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    # ------------------------------------------------------------------ transport

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = os.read(self._from_browser, 1 << 16)
            except OSError:
                data = b""
            if not data:
                self._replies.put({"closed": True})
                return
            buffer += data
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                parsed = json.loads(message)
                if "id" in parsed:
                    self._replies.put(parsed)
                else:
                    self._event(parsed)

    def _event(self, event: dict) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("uncaught: " + (details.get("exception", {}).get("description")
                                               or details.get("text", "exception")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                           for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        self._events.append(event)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                reply = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BrowserError(f"no reply to {method} within {self.timeout} s") from None
            if reply.get("closed"):
                raise BrowserError(f"the browser closed while waiting for {method}: "
                                   + b"".join(self._stderr).decode(errors="replace")[-2000:])
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def command(self, method: str, params: dict | None = None) -> dict:
        return self.send(method, params, self.session)

    # ------------------------------------------------------------------ what tests use

    def open(self, path: Path) -> None:
        """Load a file and wait for its load event (scripts have run)."""
        self._events.clear()
        self.command("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_for(lambda: any(e.get("method") == "Page.loadEventFired" for e in list(self._events)), "load")

    def evaluate(self, expression: str):
        result = self.command("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def wait_for(self, condition, what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while not condition():
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_for_js(self, expression: str, timeout: float | None = None) -> None:
        """Poll ``expression`` until it is true. While a click's navigation is under way an evaluation can
        be refused ("Inspected target navigated or closed"); that only means "not yet"."""
        refused: list[str] = []

        def true_yet() -> bool:
            try:
                return bool(self.evaluate(expression))
            except BrowserError as exc:
                refused.append(str(exc))
                return False

        try:
            self.wait_for(true_yet, expression, timeout)
        except BrowserError as exc:
            raise BrowserError(f"{exc} (last refusal: {refused[-1]})" if refused else str(exc)) from None

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element ``selector`` finds."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        if box is None:
            raise BrowserError(f"nothing matches {selector!r}")
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.command("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type_text(self, text: str) -> None:
        self.command("Input.insertText", {"text": text})

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            width, height = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": min(height, 6000), "scale": 1}
        data = self.command("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except BrowserError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
