"""Helpers for the field tests (issue #6): a controlled clock and extra users."""
import uuid
from datetime import datetime

import pytest

from server.accounts import create_user, get_or_create_organisation


class Clock:
    def __init__(self, app, start):
        self.now = start
        app.config["CLOCK"] = lambda: self.now

    def set(self, dt):
        self.now = dt

    def advance(self, **kw):
        from datetime import timedelta
        self.now += timedelta(**kw)


@pytest.fixture
def clock(app):
    # Tests move the clock by days: tokens issued at the start must outlive that.
    app.config["ACCESS_TOKEN_TTL"] = 60 * 86400
    app.config["REFRESH_TOKEN_TTL"] = 90 * 86400
    return Clock(app, datetime(2026, 7, 20, 2, 0, 0))


def add_user(username, role, code, org_name=None, kind="office"):
    org = get_or_create_organisation(org_name, code[:9].ljust(12, "0"), kind) if org_name else None
    return create_user(username=username, password="Danbing@2026", role=role, jurisdiction_code=code,
                       display_name=username, organisation=org)


def new_id():
    return str(uuid.uuid4())


def results(resp):
    return resp["results"]
