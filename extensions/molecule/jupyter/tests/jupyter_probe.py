"""Talks to the JupyterLab server the way a browser does, from inside the test host.

Run as the login user with the server's own Python (it brings tornado for the kernel websocket):
    python jupyter_probe.py --port 8888 status --auth token|none
    python jupyter_probe.py --port 8888 put-notebook NAME.ipynb
    python jupyter_probe.py --port 8888 run-cell [--kernel NAME] 'print(1+1)'
    python jupyter_probe.py --port 8890 login < password
    python jupyter_probe.py --port 8888 setting-default PLUGIN KEY
Secrets are read from the token file or stdin and never printed; output is JSON.
"""

import argparse
import asyncio
import http.cookiejar
import json
import pathlib
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

TOKEN_FILE = pathlib.Path.home() / ".jupyter" / "ec2lab-token"


def token_header():
    return {"Authorization": "token " + TOKEN_FILE.read_text(encoding="ascii").strip()}


def request(opener, url, method="GET", headers=None, body=None):
    data = None if body is None else body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except urllib.error.URLError:
        # Nothing listening (yet): the caller sees status None.
        return None, ""


def status(base, auth):
    headers = token_header() if auth == "token" else {}
    code, _ = request(urllib.request.build_opener(), base + "/api/status", headers=headers)
    return {"status": code}


def login(base, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    request(opener, base + "/login")
    xsrf = next(cookie.value for cookie in jar if cookie.name == "_xsrf")
    form = urllib.parse.urlencode({"_xsrf": xsrf, "password": password})
    login_code, _ = request(opener, base + "/login", method="POST", body=form,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    code, _ = request(opener, base + "/api/status")
    return {"login": login_code, "status": code}


def setting_default(base, plugin, key):
    """The default JupyterLab's front end gets for a setting (its schema default after overrides)."""
    code, body = request(urllib.request.build_opener(), f"{base}/lab/api/settings/{plugin}", headers=token_header())
    default = json.loads(body)["schema"]["properties"][key].get("default") if code == 200 else None
    return {"status": code, "default": default}


def put_notebook(base, name):
    notebook = {
        "type": "notebook",
        "format": "json",
        "content": {
            "nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "id": "probe", "source": "print(1+1)",
                       "metadata": {}, "outputs": [], "execution_count": None}],
        },
    }
    code, body = request(urllib.request.build_opener(), base + "/api/contents/" + name,
                         method="PUT", body=json.dumps(notebook),
                         headers={**token_header(), "Content-Type": "application/json"})
    return {"status": code, "path": json.loads(body).get("path") if code < 300 else None}


async def execute(base, code, kernel_name):
    from tornado.httpclient import HTTPRequest  # pylint: disable=import-outside-toplevel
    from tornado.websocket import websocket_connect  # pylint: disable=import-outside-toplevel

    opener = urllib.request.build_opener()
    # No name: the server starts its default kernel, as for a new notebook.
    started, body = request(opener, base + "/api/kernels", method="POST",
                            body=json.dumps({"name": kernel_name} if kernel_name else {}),
                            headers={**token_header(), "Content-Type": "application/json"})
    if started != 201:
        return {"kernel": started}
    kernel_id = json.loads(body)["id"]
    session = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    ws_url = (base.replace("http://", "ws://")
              + f"/api/kernels/{kernel_id}/channels?session_id={session}")
    result = {"kernel": started, "name": json.loads(body)["name"], "stdout": "", "stderr": "",
              "error": None, "state": None}
    connection = await websocket_connect(HTTPRequest(ws_url, headers=token_header()))
    try:
        await connection.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                       "username": "probe", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        while True:
            raw = await asyncio.wait_for(connection.read_message(), timeout=60)
            if raw is None:
                break
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                result[content["name"]] += content["text"]
            elif kind == "error":
                result["error"] = content["ename"]
            elif kind == "status" and content["execution_state"] == "idle":
                result["state"] = "idle"
                break
    finally:
        connection.close()
        request(opener, base + f"/api/kernels/{kernel_id}", method="DELETE", headers=token_header())
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8888)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status").add_argument("--auth", choices=["token", "none"], required=True)
    sub.add_parser("login")
    sub.add_parser("put-notebook").add_argument("name")
    setting = sub.add_parser("setting-default")
    setting.add_argument("plugin")
    setting.add_argument("key")
    run_cell = sub.add_parser("run-cell")
    run_cell.add_argument("--kernel", default="python3", help="kernelspec; '' for the default")
    run_cell.add_argument("code")
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    if args.command == "status":
        out = status(base, args.auth)
    elif args.command == "login":
        out = login(base, sys.stdin.read().rstrip("\n"))
    elif args.command == "put-notebook":
        out = put_notebook(base, args.name)
    elif args.command == "setting-default":
        out = setting_default(base, args.plugin, args.key)
    else:
        out = asyncio.run(execute(base, args.code, args.kernel))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
