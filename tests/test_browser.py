"""Notebook 07 in a real browser: JupyterLab, Chromium (Playwright), real mouse moves.

Starts ``jupyter lab`` on a free loopback port with a token and throw-away
Jupyter config, data and runtime folders, opens a copy of the notebook, runs
all cells, narrows the window (the canvas must follow the cell's width),
writes digits on the pad with the mouse, presses Read, checks the digits
shown in the output area and the boxes on the canvas, then presses Clear and
checks that the canvas is blank again. Screenshots are saved under the test's
``tmp_path``. When ``CI`` is set this test must run: missing Chromium,
Playwright or the shipped model fail it instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from digitlab.model import DEFAULT_MODEL
from digitlab.strokes import digit_strokes

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "07_draw_and_read.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
TEXT = "470"  # written with real mouse moves: a two-stroke 4, a 7 and a 0
CANVAS = (800, 240)  # the pad's canvas in notebook 07, in canvas pixels (width, height)
NARROW = 700  # a window this wide leaves the cell less room than the canvas' 800 px
#: Chromium without first-run chores, updates or any traffic of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-extensions",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
]
#: JupyterLab settings: no news or update checks (and so no pop-up over the page).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _api(url: str, method: str = "GET"):
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


# --- The server -------------------------------------------------------------


class LabServer:
    """``jupyter lab`` on 127.0.0.1 serving ``root``, isolated from the user's Jupyter files."""

    def __init__(self, root: Path, home: Path):
        self.port = _free_port()
        self.token = uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "jupyter.log"
        settings = home / "config" / "lab" / "user-settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        environment = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
            "MPLCONFIGDIR": str(home / "matplotlib"),
            "DIGITLAB_QUICK": "1",
        }
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
        ]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, env=environment, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                _api(f"{self.url}/api/status?token={self.token}")
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, characters: int = 3000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-characters:]

    def stop(self) -> None:
        """Shut the kernels down, then the server; kill it if it lingers."""
        if self.process.poll() is None:
            try:
                for kernel in _api(f"{self.url}/api/kernels?token={self.token}"):
                    _api(f"{self.url}/api/kernels/{kernel['id']}?token={self.token}", method="DELETE")
            except OSError:
                pass
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def shipped_model(unavailable):
    if not DEFAULT_MODEL.is_file():
        unavailable(f"the shipped model {DEFAULT_MODEL} is not trained yet (digitlab train)")
    return DEFAULT_MODEL


@pytest.fixture
def lab(tmp_path):
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)  # a copy: autosave must never touch the repository
    server = LabServer(root, tmp_path / "jupyter")
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


# --- The browser ------------------------------------------------------------


@pytest.fixture
def browser(unavailable):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Python playwright is not installed (pip install playwright)")
    if not CHROMIUM.is_file():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return Boolean(kernel) && kernel.status === "idle";
}"""


def draw(page, canvas, strokes, canvas_size: tuple[int, int]):
    """Draw ``strokes`` (canvas pixels) with real mouse presses and moves over ``canvas``, shown at any size."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()  # taken right before drawing: JupyterLab scrolls
    scale_x, scale_y = box["width"] / canvas_size[0], box["height"] / canvas_size[1]
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x * scale_x, box["y"] + y * scale_y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * scale_x, box["y"] + y * scale_y, steps=4)
        page.mouse.up()


#: What the canvas shows inside its border: pixels not paper-white, and pixels of a box's colour.
CANVAS_PIXELS = """(element, colours) => {
    const {width, height} = element;
    const data = element.getContext("2d").getImageData(0, 0, width, height).data;
    let marked = 0, boxes = 0;
    for (let y = 4; y < height - 4; y++) {
        for (let x = 4; x < width - 4; x++) {
            const i = 4 * (y * width + x), [r, g, b] = [data[i], data[i + 1], data[i + 2]];
            marked += r < 245 || g < 245 || b < 245;
            boxes += colours.some(([cr, cg, cb]) => Math.abs(r - cr) + Math.abs(g - cg) + Math.abs(b - cb) < 24);
        }
    }
    return {marked, boxes};
}"""

#: How the upload button looks: its visible label (a CSS ::after) and the width of its own text ("... (0)").
UPLOAD_LOOK = """element => {
    const text = [...element.childNodes].find(node => node.nodeType === Node.TEXT_NODE);
    const range = document.createRange();
    range.selectNodeContents(text);
    return {label: getComputedStyle(element, "::after").content, text: text.textContent,
            textWidth: range.getBoundingClientRect().width, fits: element.scrollWidth <= element.clientWidth};
}"""


def canvas_pixels(canvas) -> dict:
    """``{"marked", "boxes"}``: how many pixels inside the canvas' border are not paper, and of a box's colour."""
    from digitlab.colours import SURE, UNSURE, rgb

    return canvas.evaluate(CANVAS_PIXELS, [list(rgb(SURE)), list(rgb(UNSURE))])


def check_the_canvas_follows_the_cell(page, pad, canvas) -> None:
    """At most its 800 px wide in a wide window; in a narrow one as wide as the cell, its shape kept."""
    wide = canvas.bounding_box()
    assert abs(wide["width"] - min(CANVAS[0], pad.bounding_box()["width"])) <= 1, wide
    page.set_viewport_size({"width": NARROW, "height": 1000})
    page.wait_for_function(f"element => element.getBoundingClientRect().width < {CANVAS[0] - 50}",
                           arg=canvas.element_handle(), timeout=10_000)
    narrow, cell = canvas.bounding_box(), pad.bounding_box()
    assert narrow["x"] >= cell["x"] - 1 and narrow["x"] + narrow["width"] <= cell["x"] + cell["width"] + 1
    assert narrow["height"] / narrow["width"] == pytest.approx(CANVAS[1] / CANVAS[0], rel=0.02)


def check_the_upload_button(pad) -> None:
    """It reads "Read a photo": ipywidgets' "(0)" after its description is there, but takes no room."""
    look = pad.locator(".digitlab-upload").evaluate(UPLOAD_LOOK)
    assert look["label"] == '"Read a photo"' and look["fits"], look
    assert look["text"] == "Read a photo (0)" and look["textWidth"] == 0, look


def test_draw_digits_in_jupyterlab_and_read_them(shipped_model, lab, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}")
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)

    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    outputs = page.locator(".jp-OutputArea")
    pad = outputs.locator(".digitlab-pad")
    pad.wait_for(timeout=60_000)
    # The last cell's output: every cell has run.
    outputs.get_by_text("the usual 7:").wait_for(timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=30_000)
    canvas = pad.locator("canvas").last
    check_the_canvas_follows_the_cell(page, pad, canvas)
    check_the_upload_button(pad)

    pad.locator(".digitlab-clear").click()
    text = pad.locator(".digitlab-text")
    page.wait_for_function(
        "element => element.innerText.includes('Write digits')", arg=text.element_handle(), timeout=10_000
    )
    draw(page, canvas, digit_strokes(TEXT, origin=(60, 50), height=140), CANVAS)
    pad.locator(".digitlab-read").click()
    page.wait_for_function(
        "([element, expected]) => element.innerText.replace(/[?\\s]/g, '') === expected",
        arg=[text.element_handle(), TEXT],
        timeout=15_000,
    )

    page.screenshot(path=str(tmp_path / "draw_and_read_page.png"))
    pad.screenshot(path=str(tmp_path / "draw_and_read_pad.png"))
    assert text.inner_text().replace("?", "").split() == [TEXT]
    assert pad.locator(".digitlab-crops img").count() == len(TEXT)
    assert "Read in" in pad.locator(".digitlab-message").inner_text()
    assert canvas_pixels(canvas)["boxes"] > 0  # the boxes of the digits read

    pad.locator(".digitlab-clear").click()  # the ink, the boxes and their labels all go
    page.wait_for_function(f"element => ({CANVAS_PIXELS})(element, []).marked === 0",
                           arg=canvas.element_handle(), timeout=10_000)
    assert pad.locator(".digitlab-message").inner_text().strip() == ""
    pad.screenshot(path=str(tmp_path / "cleared_pad.png"))
