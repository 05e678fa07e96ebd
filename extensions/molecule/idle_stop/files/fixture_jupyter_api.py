#!/usr/bin/python3
"""FIXTURE, not JupyterLab: answers the three Jupyter API calls the idle check makes.

    fixture_jupyter_api.py PORT TOKEN_FILE STATE_DIR

Answers GET /api/status, /api/kernels and /api/terminals on 127.0.0.1:PORT with the shapes
jupyter_server 2.21 returns, for requests carrying `Authorization: token <TOKEN_FILE's text>`
(403 otherwise). What it answers comes from STATE_DIR/answer.json, which the tests rewrite:
{"kernels": [...], "terminals": [...], "last_activity": ISO} or {"fail": 500}; without the file
nothing was ever used. Every request path is appended to STATE_DIR/requests.log.
GET /fixture/child starts a CPU-bound child process of the server, as a kernel's subprocess
would be (the server's unit holds it), and answers its pid.
"""

import json
import subprocess
import sys
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

PORT, TOKEN, STATE = int(sys.argv[1]), Path(sys.argv[2]).read_text().strip(), Path(sys.argv[3])
STARTED = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        STATE.mkdir(exist_ok=True)
        with (STATE / "requests.log").open("a") as log:
            log.write(self.path + "\n")
        if self.headers.get("Authorization") != f"token {TOKEN}":
            return self.reply(403, {"message": "Forbidden"})
        try:
            answer = json.loads((STATE / "answer.json").read_text())
        except FileNotFoundError:
            answer = {"kernels": [], "terminals": [], "last_activity": STARTED}
        if "fail" in answer:
            return self.reply(answer["fail"], {"message": "FIXTURE failure"})
        route = self.path.split("?")[0]
        if route == "/fixture/child":
            child = subprocess.Popen(["/usr/local/bin/fixture-burn"])  # noqa: S603 - a fixed fixture
            return self.reply(200, {"pid": child.pid})
        if route == "/api/status":
            return self.reply(200, {"connections": 0, "kernels": len(answer["kernels"]), "started": STARTED,
                                    "last_activity": answer["last_activity"]})
        if route in ("/api/kernels", "/api/terminals"):
            return self.reply(200, answer[route.rsplit("/", 1)[1]])
        return self.reply(404, {"message": "Not Found"})

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
