#!/usr/bin/env python3
"""Drive a real JupyterLab in headless Debian Chromium, as a person would.

Logs in (token in the URL, or the password form), creates a Python 3 notebook from the
launcher, runs ``import sys; print(sys.version)``, waits for the output, saves with Ctrl+S
and takes a screenshot. Exits 0 only if the output area in the page showed a Python version
and the saved notebook on the server holds that output.

    python tests/e2e/browser.py --url http://127.0.0.1:PORT --token TOKEN --screenshot out.png
    python tests/e2e/browser.py --url http://127.0.0.1:PORT --password PW --screenshot out.png

Needs Debian's ``chromium`` package and the ``playwright`` Python package; Playwright's own
browser download (``playwright install``) is never used.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import signal
import sys
import tempfile
import time
import urllib.parse

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

CELL_SOURCE = "import sys; print(sys.version)"
# sys.version looks like "3.11.2 (main, Mar 13 2023, 12:18:29) [GCC 12.2.0]".
PYTHON_VERSION = re.compile(r"^3\.\d+\.\d+\S* \(")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
WORKSPACE = "ec2lab-e2e"
EXIT_FAILED = 1
EXIT_HUNG = 3


class CheckFailed(Exception):
    """The page did not do what a user expects; the message says what."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--url", required=True, help="JupyterLab base URL, e.g. http://127.0.0.1:8888")
    auth = parser.add_mutually_exclusive_group(required=True)
    auth.add_argument("--token", help="log in with this token (?token=...)")
    auth.add_argument("--password", help="log in through the login form with this password")
    parser.add_argument("--screenshot", required=True, help="PNG written on success and on failure")
    parser.add_argument(
        "--notebook-name",
        default=datetime.datetime.now(datetime.timezone.utc).strftime("ec2lab-e2e-%Y%m%d-%H%M%S.ipynb"),
        help="name given in the rename dialog of the first save (default: ec2lab-e2e-<UTC time>.ipynb)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for each wait (default 60)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="browser binary (default /usr/bin/chromium)")
    args = parser.parse_args(argv)
    if not args.notebook_name.endswith(".ipynb") or "/" in args.notebook_name:
        parser.error("--notebook-name must be a plain file name ending in .ipynb")
    return args


def log(message: str) -> None:
    print(f"[browser] {message}", flush=True)


def base_url(url: str) -> str:
    return url.rstrip("/") + "/"


def log_in(page: Page, args: argparse.Namespace, timeout_ms: float) -> None:
    """Open the lab in a workspace of its own, emptied (?reset) so no earlier tab or dialog
    comes back, and so that the user's own layout stays as it is."""
    root = base_url(args.url)
    lab = f"lab/workspaces/{WORKSPACE}?reset"
    if args.token is not None:
        log(f"opening {root}{lab} with the token")
        page.goto(f"{root}{lab}&token={urllib.parse.quote(args.token, safe='')}", timeout=timeout_ms)
    else:
        log(f"opening {root}login and submitting the password form")
        next_path = urllib.parse.urlsplit(root).path + lab
        page.goto(f"{root}login?next={urllib.parse.quote(next_path, safe='')}", timeout=timeout_ms)
        page.locator("input[name=password]").fill(args.password, timeout=timeout_ms)
        with page.expect_navigation(timeout=timeout_ms):
            page.locator("input[name=password]").press("Enter")
    shell_or_login = page.locator(".jp-LabShell, input[name=password]").first
    shell_or_login.wait_for(timeout=timeout_ms)
    if page.locator("input[name=password]").count():
        said = " ".join(page.locator("body").inner_text(timeout=timeout_ms).split())[:200]
        raise CheckFailed(f"login failed: still on the login page {page.url.split('?')[0]}, which says: {said}")
    # The splash screen goes once the lab has restored its workspace (open tabs and so on).
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=timeout_ms)
    log("JupyterLab is up")


def open_new_notebook(page: Page, timeout_ms: float) -> str:
    """Click the launcher's Python 3 notebook tile; return the new panel's DOM id."""
    existing = set(page.locator(".jp-NotebookPanel").evaluate_all("els => els.map(e => e.id)"))
    dialog = page.locator(".jp-Dialog .jp-Dialog-header")
    if dialog.count():
        raise CheckFailed(f"a dialog blocks the lab: {dialog.first.inner_text(timeout=timeout_ms)!r}")
    try:  # an empty workspace gets its launcher a moment after the splash screen goes
        page.locator(".jp-Launcher").first.wait_for(timeout=min(timeout_ms, 10000))
    except PlaywrightError:
        # Some tab came back after all: open a launcher with the dock's "+" tab.
        log("no launcher on screen; opening one with the '+' tab")
        page.locator("#jp-main-dock-panel .lm-TabBar-addButton").first.click(timeout=timeout_ms)
    tile = page.locator('.jp-Launcher:visible .jp-LauncherCard[data-category="Notebook"]').filter(has_text="Python 3")
    try:
        tile.first.wait_for(timeout=timeout_ms)
    except PlaywrightError as exc:
        raise CheckFailed("no 'Python 3' notebook tile in the launcher (is ipykernel installed?)") from exc
    tile.first.click(timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        ids = page.locator(".jp-NotebookPanel").evaluate_all("els => els.map(e => e.id)")
        new = [i for i in ids if i not in existing]
        if new:
            return new[0]
        page.wait_for_timeout(200)
    raise CheckFailed("clicking the notebook tile opened no notebook")


def wait_for_kernel(page: Page, panel: str, timeout_ms: float) -> None:
    """Wait, as a user would, until the toolbar names the kernel and it shows idle.

    A cell run before the notebook has a kernel is dropped without a word, and the
    indicator already says "idle" while the toolbar still reads "No Kernel"."""
    name = page.locator(f"#{panel} .jp-KernelName").first
    indicator = page.locator(f"#{panel} .jp-Notebook-ExecutionIndicator").first
    deadline = time.monotonic() + timeout_ms / 1000
    ready_polls = 0
    while time.monotonic() < deadline:
        kernel = name.inner_text(timeout=timeout_ms).strip() if name.count() else ""
        status = indicator.get_attribute("data-status", timeout=timeout_ms) if indicator.count() else None
        ready_polls = ready_polls + 1 if kernel and kernel != "No Kernel" and status == "idle" else 0
        if ready_polls >= 2:
            log(f"kernel {kernel!r} is idle")
            return
        page.wait_for_timeout(250)
    raise CheckFailed(f"the kernel did not become idle in {timeout_ms / 1000:.0f} s (toolbar: {kernel!r}, {status})")


def run_first_cell(page: Page, panel: str, timeout_ms: float) -> str:
    wait_for_kernel(page, panel, timeout_ms)
    cell = page.locator(f"#{panel} .jp-Notebook .jp-Cell").first
    editor = cell.locator(".cm-content")
    editor.click(timeout=timeout_ms)
    page.keyboard.type(CELL_SOURCE)
    typed = editor.inner_text(timeout=timeout_ms)
    if typed.strip() != CELL_SOURCE:
        raise CheckFailed(f"first cell holds {typed!r} after typing, expected {CELL_SOURCE!r}")
    log(f"typed {CELL_SOURCE!r}; running it with Shift+Enter")
    page.keyboard.press("Shift+Enter")
    output = cell.locator(".jp-OutputArea-output").first
    try:
        output.wait_for(timeout=timeout_ms)
    except PlaywrightError as exc:
        prompt = cell.locator(".jp-InputPrompt").inner_text(timeout=timeout_ms).strip()
        raise CheckFailed(f"no output after {timeout_ms / 1000:.0f} s; the cell's prompt reads {prompt!r}") from exc
    text = output.inner_text(timeout=timeout_ms).strip()
    mime = output.get_attribute("data-mime-type")
    if mime != "application/vnd.jupyter.stdout" or not PYTHON_VERSION.match(text):
        raise CheckFailed(f"output area shows {mime} {text!r}, not a Python version on stdout")
    return text


def save(page: Page, panel: str, name: str, timeout_ms: float) -> None:
    """Ctrl+S; answer the first-save rename dialog (if the lab asks) with ``name``."""
    page.keyboard.press("Control+s")  # focus is still in the notebook after Shift+Enter
    dialog_input = page.locator(".jp-Dialog input#jp-dialog-input-id")
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    deadline = time.monotonic() + timeout_ms / 1000
    saved_unnamed_since = None
    while time.monotonic() < deadline:
        if dialog_input.count():
            dialog_input.fill(name, timeout=timeout_ms)
            page.locator(".jp-Dialog .jp-mod-accept").click(timeout=timeout_ms)
            dialog_input.wait_for(state="detached", timeout=timeout_ms)
        elif "jp-mod-dirty" in (tab.get_attribute("class") or ""):
            saved_unnamed_since = None
        elif notebook_path(page).endswith(name):
            return
        else:
            # Saved as Untitled.ipynb: the lab saves first and asks for the name after, which on
            # a busy machine can take a while. Without a prompt in 5 s, the lab does not ask.
            saved_unnamed_since = saved_unnamed_since or time.monotonic()
            if time.monotonic() - saved_unnamed_since > 5:
                return
        page.wait_for_timeout(200)
    raise CheckFailed("the notebook still shows unsaved changes after Ctrl+S")


def check_saved(page: Page, args: argparse.Namespace, path: str, output: str, timeout_ms: float) -> None:
    """Read the saved file back through the server's contents API (same login as the page)."""
    headers = {"Authorization": f"token {args.token}"} if args.token is not None else {}
    url = f"{base_url(args.url)}api/contents/{urllib.parse.quote(path)}?content=1&type=notebook"
    response = page.context.request.get(url, headers=headers, timeout=timeout_ms)
    if not response.ok:
        raise CheckFailed(f"GET api/contents/{path} answered {response.status}")
    try:
        first = response.json()["content"]["cells"][0]
        saved = "".join(first["source"])
        streams = "".join("".join(o.get("text", "")) for o in first.get("outputs", []))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise CheckFailed(f"saved {path} is not a notebook with a first cell: {exc!r}") from exc
    if saved != CELL_SOURCE or streams.strip() != output:
        raise CheckFailed(f"saved {path} holds source {saved!r} and output {streams!r}")


def shut_down_kernel(page: Page, panel: str) -> None:
    """Kernel > Shut Down Kernel, so repeated checks leave no kernels behind (best effort)."""
    try:
        page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Kernel").click(timeout=10000)
        page.locator('.lm-Menu-item[data-command="kernelmenu:shutdown"]').click(timeout=10000)
        page.locator(f"#{panel} .jp-KernelName", has_text="No Kernel").wait_for(timeout=10000)
        log("kernel shut down")
    except PlaywrightError as exc:
        log(f"could not shut the kernel down (the check itself passed): {exc.message.splitlines()[0]}")


def notebook_path(page: Page) -> str:
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    title = tab.get_attribute("title") or ""
    match = re.search(r"^Path: (.+)$", title, re.MULTILINE)
    return match.group(1) if match else tab.inner_text().strip()


def redact(text: str, args: argparse.Namespace) -> str:
    """Keep the secret out of failure messages (Playwright's quote the URL it opened)."""
    for secret in (args.token, args.password):
        if secret:
            text = text.replace(urllib.parse.quote(secret, safe=""), "<secret>").replace(secret, "<secret>")
    return text


def screenshot(page: Page | None, path: str) -> None:
    if page is None:
        log(f"no page to take a screenshot of; {path} not written")
        return
    try:
        page.screenshot(path=path, timeout=10000)
        log(f"screenshot: {path}")
    except PlaywrightError as exc:  # e.g. a page whose server never answered
        log(f"screenshot failed: {exc.message.splitlines()[0]}")


def check(args: argparse.Namespace) -> int:
    timeout_ms = args.timeout * 1000
    page = None
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="ec2lab-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,  # a fresh --user-data-dir
            executable_path=args.chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
            timeout=timeout_ms,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            log(f"chromium {context.browser.version if context.browser else '?'} started")
            log_in(page, args, timeout_ms)
            panel = open_new_notebook(page, timeout_ms)
            output = run_first_cell(page, panel, timeout_ms)
            save(page, panel, args.notebook_name, timeout_ms)
            path = notebook_path(page)
            check_saved(page, args, path, output, timeout_ms)
            screenshot(page, args.screenshot)
            print(f"notebook: {path}")
            print(f"output: {output}")
            shut_down_kernel(page, panel)
            log("OK")
            return 0
        except (CheckFailed, PlaywrightError) as exc:
            screenshot(page, args.screenshot)
            print(f"FAILED: {redact(str(exc), args)}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            context.close()


def give_up(signum: int, frame: object) -> None:
    print("FAILED: the whole check overran its time limit and was stopped", file=sys.stderr, flush=True)
    os._exit(EXIT_HUNG)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Each wait is bounded by --timeout; this is the backstop should anything else hang.
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(int(args.timeout * 4) + 30)
    try:
        return check(args)
    except PlaywrightError as exc:
        print(f"FAILED: could not start {args.chromium}: {redact(str(exc), args)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
