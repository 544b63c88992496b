"""The dashboard as a browser without scripts drives it: the form token a page carries, and a logged-in client."""

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.dashboard_campus import PASSWORD


def form_token(html: str) -> str:
    """The form token of a page (every form of a logged-in page carries it; the login form its own)."""
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "the page carries its form token"
    return m.group(1)


def logged_in(app: FastAPI, user: str, password: str = PASSWORD) -> TestClient:
    """A client with a dashboard session of `user`."""
    c = TestClient(app)
    csrf = form_token(c.get("/ui/login").text)
    r = c.post("/ui/login", data={"username": user, "password": password, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c
