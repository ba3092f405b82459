"""Deliver notifications through the browsers' push services, by RQ jobs.

``notify`` picks the recipients' subscriptions (respecting their preferences) and enqueues
chunks; ``deliver_chunk`` sends one chunk over one keep-alive session, drops subscriptions
the push service says are gone (404/410) and re-enqueues the ones that got 429/5xx with a
growing delay, a bounded number of times. Payloads are encrypted with aes128gcm (RFC 8291)
by pywebpush; VAPID (RFC 8292) signs one token per push-service origin per chunk.
"""
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlparse

import requests
import requests.adapters
from flask import current_app
from pywebpush import WebPusher
from sqlalchemy import delete, select

from server.clock import utcnow
from server.extensions import db
from server.models import User
from server.queue import get_queue, job

from . import vapid
from .models import NotificationOptOut, PushSubscription

log = logging.getLogger(__name__)

CHUNK = 250
SEND_THREADS = 8
MAX_ATTEMPTS = 4
# Severity -> (Urgency header, TTL seconds). A red warning must wake the phone now.
SEVERITY = {"high": ("high", 24 * 3600), "normal": ("normal", 3 * 24 * 3600), "low": ("low", 7 * 24 * 3600)}


def message(kind, title, body, url, severity="normal", level=None, tag=None, ttl=None):
    """A small payload: no personal data beyond what the recipient may already see."""
    msg = {"kind": kind, "title": title[:80], "body": body[:200], "url": url, "severity": severity}
    if level:
        msg["level"] = level
    if tag:
        msg["tag"] = tag
    if ttl:
        msg["ttl"] = int(ttl)
    return msg


def recipients_subscriptions(user_ids, kind):
    opted_out = select(NotificationOptOut.user_id).where(NotificationOptOut.kind == kind)
    return db.session.scalars(select(PushSubscription.id).where(
        PushSubscription.user_id.in_(user_ids), PushSubscription.user_id.not_in(opted_out))).all()


def notify(user_ids, msg) -> int:
    """Enqueue ``msg`` for every subscribed device of ``user_ids``; returns the device count."""
    sub_ids = recipients_subscriptions(list(set(user_ids)), msg["kind"])
    return enqueue_chunks(sub_ids, msg)


@job
def notify_job(user_ids, msg):
    return notify(user_ids, msg)


def notify_jurisdiction(code_prefix, msg, roles=None) -> int:
    """Everyone whose jurisdiction lies in ``code_prefix`` (a warning to an area)."""
    stmt = select(User.id).where(User.jurisdiction_code.startswith(code_prefix), User.active.is_(True))
    if roles:
        stmt = stmt.where(User.role.in_(roles))
    return notify(db.session.scalars(stmt).all(), msg)


def enqueue_chunks(sub_ids, msg, attempt=1, delay=None) -> int:
    q = get_queue("push")
    for i in range(0, len(sub_ids), CHUNK):
        chunk = sub_ids[i:i + CHUNK]
        kwargs = dict(job_timeout=300, description=f"push {msg['kind']} x{len(chunk)} try {attempt}")
        if delay:
            q.enqueue_in(timedelta(seconds=delay), deliver_chunk, chunk, msg, attempt, **kwargs)
        else:
            q.enqueue(deliver_chunk, chunk, msg, attempt, **kwargs)
    return len(sub_ids)


@job
def deliver_chunk(sub_ids, msg, attempt=1):
    return send_chunk(sub_ids, msg, attempt)


def send_chunk(sub_ids, msg, attempt=1):
    """Send to each subscription; returns counts by outcome."""
    app = current_app._get_current_object()
    signer = vapid.get(app)
    subject = app.config.get("VAPID_SUBJECT", "mailto:ops@danbing.invalid")
    urgency, ttl = SEVERITY.get(msg.get("severity"), SEVERITY["normal"])
    ttl = msg.get("ttl") or ttl
    data = json.dumps(msg, ensure_ascii=False).encode()
    subs = db.session.scalars(select(PushSubscription).where(PushSubscription.id.in_(sub_ids))).all()
    session = requests.Session()
    # Push services answer in tens of milliseconds: send several at once on pooled connections.
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=SEND_THREADS))
    session.mount("https://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=SEND_THREADS))
    auth_by_origin = {}
    for sub in subs:  # one VAPID signature per push service and chunk, valid 12 h
        origin = "{0.scheme}://{0.netloc}".format(urlparse(sub.endpoint))
        if origin not in auth_by_origin:
            auth_by_origin[origin] = signer.sign({"aud": origin, "sub": subject, "exp": int(time.time()) + 12 * 3600})

    def send(info):
        sub_id, sub_info, origin = info
        headers = {**auth_by_origin[origin], "Urgency": urgency}
        try:
            resp = WebPusher(sub_info, requests_session=session).send(
                data, headers=headers, ttl=ttl, content_encoding="aes128gcm", timeout=10)
            return sub_id, resp.status_code
        except requests.RequestException as e:
            log.warning("push to subscription %s failed: %s", sub_id, e)
            return sub_id, 503

    work = [(s.id, s.info(), "{0.scheme}://{0.netloc}".format(urlparse(s.endpoint))) for s in subs]
    sent, gone, retry = [], [], []
    with ThreadPoolExecutor(SEND_THREADS) as pool:
        for sub_id, status in pool.map(send, work):
            if status in (200, 201, 202):
                sent.append(sub_id)
            elif status in (404, 410):
                gone.append(sub_id)  # the browser unsubscribed or the subscription expired
            elif status == 429 or status >= 500:
                retry.append(sub_id)
            else:
                log.error("push to subscription %s refused with %s; not retried", sub_id, status)
    if sent:
        db.session.query(PushSubscription).filter(PushSubscription.id.in_(sent)).update(
            {"last_success_at": utcnow()}, synchronize_session=False)
    if gone:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    db.session.commit()
    if retry:
        if attempt < MAX_ATTEMPTS:
            backoff = app.config["PUSH_RETRY_BACKOFF"]
            enqueue_chunks(retry, msg, attempt + 1, delay=backoff[min(attempt, len(backoff)) - 1])
        else:
            log.error("push %s: %d subscriptions still failing after %d tries", msg["kind"], len(retry), attempt)
    return {"sent": len(sent), "gone": len(gone), "retry": len(retry)}
