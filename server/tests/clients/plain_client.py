"""What the Python clients share: REST calls with `requests` and one
identified websocket with `websocket-client`, written from docs/API.md
alone. The server's address is the script's first argument."""

import json
import sys
import uuid

import requests
import websocket

BASE = sys.argv[1].rstrip("/")
WS = BASE.replace("http://", "ws://", 1) + "/api/ws"


def call(method, path, token=None, body=None, expect=200):
    """One REST call; asserts its status, returns its JSON body (or None)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(method, BASE + path, json=body, headers=headers, timeout=10)
    assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def register(name):
    """A fresh account: (token, user)."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    auth = call("POST", "/api/auth/register", body={"email": email, "username": name, "password": "correct horse"}, expect=201)
    return auth["token"], auth["user"]


class Socket:
    """One identified websocket; frames read strictly in order."""

    def __init__(self, token):
        self.ws = websocket.create_connection(WS, timeout=10)
        self.send({"type": "identify", "token": token})
        self.ready = self.next()
        assert self.ready["type"] == "ready", self.ready

    def send(self, frame):
        self.ws.send(json.dumps(frame))

    def next(self):
        while True:
            frame = json.loads(self.ws.recv())
            if frame["type"] != "presence":  # friends coming and going: not what we test
                return frame

    def expect(self, type_, **fields):
        """The next frame, which must be `type_` with these fields."""
        frame = self.next()
        assert frame["type"] == type_, f"expected {type_}, got {frame}"
        for key, value in fields.items():
            assert frame.get(key) == value, f"{type_}.{key}: expected {value!r}, got {frame}"
        return frame
