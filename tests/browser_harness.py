"""Drive the course in a real browser: a throwaway JupyterLab server + headless Chromium (playwright).

    with LabServer(root) as lab:                      # jupyter lab on a free loopback port, isolated dirs
        page = new_page(browser)
        nb = Lesson(page, lab, "week04_successive_distillation.ipynb")
        nb.open(); nb.run_all(); nb.wait_until_executed()
        nb.errors()                                   # [] when no cell failed
        move = nb.move_slider(".course-FeatureMapExplorer", "channel", "ArrowRight")

Everything the server writes (settings, workspaces, runtime files, notebooks) lives in a temporary folder; the
server runs in its own process group and `LabServer.stop()` always ends it and its kernels.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
# Flags that let Debian's chromium start headless as root in a container without network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
INSTALL_HINT = "install chromium: apt-get install -y chromium"

# User settings written into the throwaway settings dir: no news/update pop-ups, every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# The text repr a widget falls back to when the frontend cannot render it.
WIDGET_TEXT_REPRS = ("IntSlider(", "SelectionSlider(", "FloatSlider(", "VBox(children", "HBox(children",
                     "Image(value=", "Output(", "Error displaying widget", "Loading widget...",
                     "IPython.core.display")  # e.g. `<IPython.core.display.Markdown object>` printed


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[test]'"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: {INSTALL_HINT}"
    return None


def require_browser() -> None:
    """Skip the calling test when the browser cannot run here; under CI=true fail instead."""
    import pytest

    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """PIDs whose parent is `pid` (Linux /proc; [] elsewhere)."""
    kids = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class LabServer:
    """`jupyter lab` on a free loopback port with a random token; settings/runtime/workspaces isolated in `workdir`."""

    def __init__(self, root: Path, workdir: Path, env: dict[str, str] | None = None):
        self.root, self.workdir = Path(root), Path(workdir)
        self.token, self.port = secrets.token_hex(16), free_port()
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyter-lab.log"
        self.kernel_pids: set[int] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5) -> object:
        req = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def start(self, timeout: float = 120) -> "LabServer":
        dirs = {name: self.workdir / name for name in ("config", "data", "runtime", "settings", "workspaces")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        for name, value in LAB_SETTINGS.items():
            path = dirs["settings"] / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = os.environ | {
            "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]), "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        } | self.extra_env
        env.pop("JUPYTER_TOKEN", None)
        cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--ServerApp.terminals_enabled=False",
               "--LabApp.news_url=None", f"--LabApp.user_settings_dir={dirs['settings']}",
               f"--LabApp.workspaces_dir={dirs['workspaces']}"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("status", timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def remember_kernels(self) -> None:
        """Note the kernels' PIDs (children of the server) so `stop()` can end them if the server cannot."""
        if self.proc is not None:
            self.kernel_pids.update(_children(self.proc.pid))

    def stop(self) -> None:
        """Shut the server and its kernels down: politely via the API, then SIGTERM/SIGKILL its process group."""
        if self.proc is None:
            return
        self.remember_kernels()
        try:
            if self.proc.poll() is None:
                try:
                    self.api("shutdown", method="POST", timeout=5)
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)  # the server's own group (start_new_session)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
            for pid in self.kernel_pids:  # kernels run in their own sessions (pgid == pid)
                if _alive(pid):
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            self._log.close()
            self.proc = None

    def shutdown_kernels(self) -> None:
        """Shut down every running kernel (between lessons, so only one trains at a time)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            for kernel in self.api("kernels"):
                self.api(f"kernels/{kernel['id']}", method="DELETE", timeout=20)
        except OSError:
            pass

    def __enter__(self) -> "LabServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_browser(playwright):
    """Headless Debian Chromium with the offline-safe flags."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


# In-page helpers (JavaScript run by page.evaluate).
_JS_DIGEST = """async (img) => {
    const src = img.getAttribute('src') || '';
    if (!src) return null;
    const buf = await (await fetch(src)).arrayBuffer();
    const hash = await crypto.subtle.digest('SHA-256', buf);
    return {src, bytes: buf.byteLength,
            sha256: Array.from(new Uint8Array(hash)).map(b => b.toString(16).padStart(2, '0')).join('')};
}"""

# Arms a one-shot timer: t0 at the next keydown anywhere, t1 when the figure's <img> gets a new src (or the
# Output's <img> is replaced), t2 once that image is decoded, i.e. can be painted.
_JS_ARM = """([root, imgSel]) => {
    const box = document.querySelector(root);
    const state = {t0: null, t1: null, t2: null, oldSrc: null};
    const current = () => box.querySelector(imgSel);
    state.oldSrc = current() ? current().getAttribute('src') : null;
    window.__courseLatency = state;
    document.addEventListener('keydown', () => { if (state.t0 === null) state.t0 = performance.now(); },
                              {capture: true, once: true});
    const check = async () => {
        const img = current();
        if (state.t1 !== null || !img || img.getAttribute('src') === state.oldSrc) return;
        state.t1 = performance.now();
        obs.disconnect();
        try { await img.decode(); } catch (e) {}
        state.t2 = performance.now();
    };
    const obs = new MutationObserver(check);
    obs.observe(box, {attributes: true, attributeFilter: ['src'], childList: true, subtree: true});
}"""


@dataclass
class Move:
    """One keyboard move of a slider and what it did to the figure."""

    key: str
    readout_before: str
    readout_after: str
    digest_before: dict
    digest_after: dict
    latency_ms: float  # keydown -> new figure decoded, measured in the page
    caption_before: str | None = None  # the explorer's HTML caption, when it has one
    caption_after: str | None = None
    first_visit: bool = False  # set by the caller: the slider reached a value it had not shown before


class Lesson:
    """One notebook opened in JupyterLab in its own workspace."""

    def __init__(self, page, server: LabServer, relpath: str):
        self.page, self.server, self.relpath = page, server, relpath

    def open(self, timeout_s: float = 120) -> None:
        workspace = "w" + secrets.token_hex(4)  # a fresh workspace: no other notebook is restored
        self.page.goto(self.server.url(f"lab/workspaces/{workspace}/tree/{self.relpath}"),
                       wait_until="domcontentloaded", timeout=timeout_s * 1000)
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout_s * 1000)
        self.wait_kernel_idle(timeout_s)

    def wait_kernel_idle(self, timeout_s: float = 120) -> None:
        """Wait until the status bar reports the kernel connected and idle."""
        self.page.wait_for_selector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]',
                                    timeout=timeout_s * 1000)
        self.page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).first.wait_for(
            timeout=timeout_s * 1000)

    def run_all(self, tries: int = 3, started_s: float = 20) -> None:
        """Run > Run All Cells, through the menu bar as a learner would.

        A click that lands while the kernel connection is still being set up can be lost (the cells keep
        their empty prompts), so it is repeated until some cell is queued or has run."""
        for _ in range(tries):
            self.page.locator(".jp-NotebookPanel .jp-Cell").first.click(position={"x": 5, "y": 5})
            self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
            deadline = time.monotonic() + started_s
            while time.monotonic() < deadline:
                if any(p not in ("[ ]:", "") for p in self.prompts()):
                    return
                time.sleep(0.5)
        raise TimeoutError(f"{self.relpath}: Run All Cells did not start any cell; prompts {self.prompts()}")

    def prompts(self) -> list[str]:
        return self.page.eval_on_selector_all(
            ".jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent.trim())")

    def wait_until_executed(self, timeout_s: float = 300) -> list[str]:
        """Wait until every code cell shows an execution count and the kernel is idle; return the prompts."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            prompts = self.prompts()
            done = prompts and all(p.strip("[]: ").isdigit() for p in prompts)
            status = self.page.get_attribute(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator", "data-status")
            if done and status == "idle":
                return prompts
            if self.errors():  # Run All stops at the first error: no point waiting for the rest
                return prompts
            time.sleep(1)
        raise TimeoutError(f"{self.relpath}: not executed after {timeout_s:.0f} s; prompts {self.prompts()}")

    def errors(self) -> list[str]:
        """Error outputs and tracebacks printed to stderr, as text."""
        return self.page.eval_on_selector_all(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], '
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
            "els => els.filter(e => e.dataset.mimeType.endsWith('error') || /Traceback/.test(e.textContent))"
            ".map(e => e.textContent.slice(0, 3000))")

    def text_outputs(self) -> list[str]:
        return self.page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.textContent)")

    def widget_text_reprs(self) -> list[str]:
        """Output texts that look like a widget printed as text instead of rendered."""
        return [t[:200] for t in self.text_outputs() if any(r in t for r in WIDGET_TEXT_REPRS)]

    def slider(self, root: str, description: str):
        """The noUiSlider handle of the slider labelled `description` inside the widget matching `root`."""
        box = self.page.locator(root).locator(".widget-slider, .jupyter-widget-slider").filter(
            has=self.page.locator(".widget-label", has_text=description))
        return box.first

    def digest(self, root: str, img: str = "img") -> dict | None:
        loc = self.page.locator(root).locator(img).first
        return loc.evaluate(_JS_DIGEST) if loc.count() else None

    def slider_position(self, root: str, description: str) -> tuple[int, int]:
        """(value, maximum) of a slider as positions 0..max (a SelectionSlider counts its options)."""
        handle = self.slider(root, description).locator(".noUi-handle").first
        lo, now, hi = (float(handle.get_attribute(a)) for a in ("aria-valuemin", "aria-valuenow", "aria-valuemax"))
        return round(now - lo), round(hi - lo)

    def caption(self, root: str) -> str | None:
        loc = self.page.locator(root).locator(".widget-html").first
        return loc.inner_text() if loc.count() else None

    def set_slider(self, root: str, description: str, position: int, img: str = "img") -> None:
        """Move a slider to `position` with the arrow keys, waiting for the figure after each press."""
        for _ in range(1000):
            now, _hi = self.slider_position(root, description)
            if now == position:
                return
            self.move_slider(root, description, "ArrowRight" if now < position else "ArrowLeft", img=img)
        raise RuntimeError(f"slider {description!r} did not reach {position}")

    def move_slider(self, root: str, description: str, key: str = "ArrowRight", img: str = "img",
                    timeout_s: float = 30) -> Move:
        """Focus the slider's handle, press `key`, wait for the figure to change; return the measured move."""
        slider = self.slider(root, description)
        handle, readout = slider.locator(".noUi-handle").first, slider.locator(".widget-readout").first
        before_text, before, caption = readout.inner_text(), self.digest(root, img), self.caption(root)
        handle.focus()
        self.page.evaluate(_JS_ARM, [root, img])
        handle.press(key)
        self.page.wait_for_function("() => window.__courseLatency && window.__courseLatency.t2 !== null",
                                    timeout=timeout_s * 1000)
        state = self.page.evaluate("() => window.__courseLatency")
        after = self.digest(root, img)
        if caption is not None:  # the caption is a separate widget: give it a moment to follow the figure
            self.page.wait_for_timeout(50)
        return Move(key, before_text, readout.inner_text(), before, after, state["t2"] - state["t0"],
                    caption, self.caption(root))

    def screenshot(self, root: str, path: Path) -> bytes:
        path.parent.mkdir(parents=True, exist_ok=True)
        loc = self.page.locator(root).first
        loc.scroll_into_view_if_needed()
        return loc.screenshot(path=str(path), animations="disabled")


def shrink_png(path: Path, max_bytes: int) -> bytes:
    """Re-encode a screenshot as a 256-colour PNG (then halve it) until it is under `max_bytes`."""
    from PIL import Image

    data = path.read_bytes()
    if len(data) < max_bytes:
        return data
    img = Image.open(path).convert("RGB")
    while True:
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        data = path.read_bytes()
        if len(data) < max_bytes or img.width < 200:
            return data
        img = img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)


def dataset_available(name: str) -> bool:
    """Whether course_lib finds the real data set `name` (the lessons need it)."""
    from course_lib import data

    return data.is_available(name)


def environment_line(browser=None, fast: str = "1") -> str:
    """Versions and machine the timings were taken on."""
    import ipywidgets
    import jupyterlab

    chromium = f"Chromium {browser.version}" if browser is not None else "Chromium"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{chromium} headless, JupyterLab {jupyterlab.__version__}, ipywidgets {ipywidgets.__version__}, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f}, COURSE_FAST={fast}")


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy a folder of notebooks (outputs stay out of the repository: the server edits only the copy)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dst


@contextlib.contextmanager
def lab_and_browser(root: Path, workdir: Path, env: dict[str, str] | None = None):
    """(server, browser): JupyterLab on `root` + headless Chromium; both always stopped at the end."""
    from playwright.sync_api import sync_playwright

    server = LabServer(root, workdir, env=env)
    pw = browser = None
    try:
        server.start()
        pw = sync_playwright().start()
        browser = launch_browser(pw)
        yield server, browser
    finally:
        try:
            if browser is not None:
                browser.close()
            if pw is not None:
                pw.stop()
        finally:
            server.stop()


# Every <img> inside `scope`: whether it decoded (naturalWidth > 0) - the check for "every figure is an image".
_JS_IMAGES = """async (scope) => {
    const imgs = Array.from(document.querySelectorAll(scope + ' img'));
    await Promise.all(imgs.map(i => i.decode().catch(() => null)));
    return imgs.map(i => ({src: (i.getAttribute('src') || '').slice(0, 80), complete: i.complete,
                           width: i.naturalWidth, height: i.naturalHeight}));
}"""

# Characters (outside ASCII) in the text of `selector` that the page cannot draw: each is drawn on a canvas in
# its element's own computed font and compared with an unassigned code point (U+0378, drawn as the missing-glyph
# box or as nothing); a character that draws the same, or draws nothing at all, has no glyph in any font here.
_JS_MISSING_GLYPHS = """(selector) => {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const draw = (ch, font) => {
        ctx.clearRect(0, 0, 64, 64);
        ctx.font = font; ctx.textBaseline = 'top'; ctx.fillStyle = '#000';
        ctx.fillText(ch, 4, 4);
        return ctx.getImageData(0, 0, 64, 64).data;
    };
    const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
    const blank = (a) => a.every((v, i) => i % 4 !== 3 || v === 0);
    const seen = new Map();
    for (const root of document.querySelectorAll(selector)) {
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const el = node.parentElement;
            if (!el || el.closest('script, style, mjx-container, .MathJax, .MathJax_Preview, svg')) continue;
            const style = getComputedStyle(el);
            if (style.display === 'none' || style.visibility === 'hidden') continue;
            const font = `${style.fontStyle} ${style.fontWeight} 32px ${style.fontFamily}`;
            for (const ch of node.textContent) {
                const cp = ch.codePointAt(0);
                if (cp < 0x80 || /[\\p{M}\\p{Cf}\\p{Z}]/u.test(ch)) continue;  // marks, selectors, spaces
                const key = ch + '|' + font;
                if (seen.has(key)) continue;
                const pixels = draw(ch, font);
                seen.set(key, {ch, cp: cp.toString(16), font: style.fontFamily,
                               missing: blank(pixels) || same(pixels, draw('\\u0378', font))});
            }
        }
    }
    return Array.from(seen.values()).filter(v => v.missing);
}"""


def images(page, scope: str) -> list[dict]:
    """Every <img> under `scope`, after trying to decode it: src (cut), complete, natural width and height."""
    return page.evaluate(_JS_IMAGES, scope)


def missing_glyphs(page, selector: str) -> list[dict]:
    """Characters in the text under `selector` that render as an empty box (or nothing) in this browser."""
    return page.evaluate(_JS_MISSING_GLYPHS, selector)


def glyph_renders(page, char: str, font: str = "16px sans-serif") -> bool:
    """Whether `char` draws a glyph of its own in `font` here (the control for `missing_glyphs`)."""
    page.evaluate("""([char, font]) => {
        const el = document.createElement('span');
        el.id = 'course-glyph-probe'; el.style.font = font; el.textContent = char;
        document.body.appendChild(el);
    }""", [char, font])
    try:
        return not missing_glyphs(page, "#course-glyph-probe")
    finally:
        page.evaluate("() => document.getElementById('course-glyph-probe').remove()")
