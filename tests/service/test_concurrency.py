"""The gallery stays consistent under concurrent enroll, identify and delete requests."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

from vultus.gallery import Gallery

from .conftest import EX

OBAMA, BIDEN, OBAMA3 = EX / "obama.jpg", EX / "biden.jpg", EX / "obama3.jpg"


def test_concurrent_enroll_identify_delete(api, tmp_path):
    for i in range(4):  # people the deleter removes while the others work
        assert api.enroll(f"gone-{i}", BIDEN).status_code == 201
    assert api.enroll("anchor", OBAMA).status_code == 201
    search = "/v1/identify"
    statuses: list[tuple[str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(6, timeout=30)

    def record(what, r):
        with lock:
            statuses.append((what, r.status_code))

    def enroller(t):
        start.wait()
        for i in range(4):
            record("enroll", api.enroll(f"p-{t}-{i}", OBAMA if (t + i) % 2 else BIDEN))

    def identifier(_):
        start.wait()
        for _ in range(6):
            r = api.post(search, "read", files={"image": ("o3.jpg", OBAMA3.read_bytes())})
            record("identify", r)
            if r.status_code == 200 and search == "/v1/identify":
                assert r.json()["faces"][0]["identity"] is not None  # the anchor, or an obama p-*

    def deleter(_):
        start.wait()
        for i in range(4):
            record("delete", api.delete(f"/v1/identities/gone-{i}", "enroll"))

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(enroller, t) for t in range(3)] + [pool.submit(identifier, t) for t in range(2)]
        futures.append(pool.submit(deleter, 0))
        for f in futures:
            f.result(timeout=300)

    assert len(statuses) == 12 + 12 + 4
    assert all(code in (200, 201) for _, code in statuses), statuses
    # every enrollment is there, every deleted person is gone, and the counts agree everywhere
    expected = {"anchor"} | {f"p-{t}-{i}" for t in range(3) for i in range(4)}
    listed = {i["name"]: i["faces"] for i in api.get("/v1/identities", "read").json()}
    assert set(listed) == expected and all(n == 1 for n in listed.values())
    state = api.app.state.vultus
    assert state.gallery.templates() == len(expected)  # the in-memory index agrees with the store
    db = sqlite3.connect(tmp_path / "g.db")
    assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == len(expected)
    assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == len(expected)
    assert db.execute("SELECT COUNT(*) FROM faces f LEFT JOIN identities i ON i.id = f.identity_id "
                      "WHERE i.id IS NULL").fetchone()[0] == 0
    db.close()
    fresh = Gallery(tmp_path / "g.db", pipeline=state.pipeline)  # what a restarted server would load
    assert fresh.templates() == len(expected)
    fresh.close()
    actions = [e["action"] for e in api.get("/v1/audit?limit=1000").json()]
    assert actions.count("enroll") == 5 + 12 and actions.count("delete") == 4
