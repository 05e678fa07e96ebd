"""What a notebook user does, over the HTTP API and kernel websocket of a JupyterLab server
reached at a local URL (the SSH tunnel's end)."""

from __future__ import annotations

import json
import time
import uuid

import requests
import websocket


class Jupyter:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def status_code(self, authenticated: bool = True) -> int:
        getter = self.session.get if authenticated else requests.get
        return getter(f"{self.url}/api/status", timeout=10).status_code

    def run_cell(self, code: str, timeout: float = 60, kernel_name: str | None = "python3") -> str:
        """Start a kernel (None: the server's default, as for a new notebook), execute `code`
        and return what it printed."""
        body = {"name": kernel_name} if kernel_name else {}
        kernel = self.session.post(f"{self.url}/api/kernels", json=body, timeout=30)
        kernel.raise_for_status()
        kernel_id = kernel.json()["id"]
        ws_url = self.url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
        conn = websocket.create_connection(
            ws_url, header=[f"Authorization: {self.session.headers['Authorization']}"], timeout=timeout
        )
        try:
            msg_id = uuid.uuid4().hex
            conn.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "e2e",
                           "session": uuid.uuid4().hex, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False,
                            "user_expressions": {}, "allow_stdin": False},
            }))
            printed = []
            while True:
                message = json.loads(conn.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if message["msg_type"] == "stream":
                    printed.append(message["content"]["text"])
                if message["msg_type"] == "error":
                    raise AssertionError(message["content"]["evalue"])
                if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                    return "".join(printed)
        finally:
            conn.close()
            self.session.delete(f"{self.url}/api/kernels/{kernel_id}", timeout=30)


def tunnel_answers(jupyter: Jupyter, seconds: float = 30) -> int:
    """The status JupyterLab gives a request without the token once the tunnel is up (403), or the
    last one seen when it did not come up in time."""
    deadline = time.monotonic() + seconds
    while (status := jupyter.status_code(authenticated=False)) != 403 and time.monotonic() < deadline:
        time.sleep(0.5)
    return status
