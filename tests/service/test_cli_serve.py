"""`vultus keys create|list|revoke` and `vultus serve` as a real process on loopback."""

from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from vultus.cli.app import app
from vultus.service.process import running_server

from .conftest import EX

runner = CliRunner()


def keys(*args):
    r = runner.invoke(app, ["keys", *args])
    assert r.exit_code == 0, r.output
    return r


def test_keys_cli_and_serve(tmp_path):
    g = tmp_path / "g.db"
    admin = json.loads(keys("create", "--gallery", str(g), "--scope", "admin", "--name", "ops", "--json").stdout)
    reader = json.loads(keys("create", "--gallery", str(g), "--scope", "read", "--json").stdout)
    assert admin["key"].startswith(f"vultus_{admin['id']}_") and admin["scope"] == "admin"
    listed = [json.loads(line) for line in keys("list", "--gallery", str(g), "--json").stdout.splitlines()]
    assert {k["id"] for k in listed} == {admin["id"], reader["id"]} and "key" not in listed[0]
    bad = runner.invoke(app, ["keys", "create", "--gallery", str(g), "--scope", "root"])
    assert bad.exit_code == 2 and "choose one of read, enroll, admin" in bad.output

    with running_server(g, "--rate", "0", log=tmp_path / "serve.log") as server:
        url = server.url
        me = httpx.get(url + "/v1/me", headers={"X-API-Key": reader["key"]})
        assert me.status_code == 200 and me.json()["scope"] == "read"
        r = httpx.post(url + "/v1/detect", headers={"X-API-Key": reader["key"]},
                       files={"image": ("o.jpg", (EX / "obama.jpg").read_bytes())}, timeout=30)
        assert r.status_code == 200 and len(r.json()["faces"]) == 1
        assert httpx.get(url + "/").status_code == 200 and httpx.get(url + "/docs").status_code == 200
        assert "server" not in httpx.get(url + "/v1/health").headers  # no version banner
        keys("revoke", reader["id"], "--gallery", str(g))  # from another process, while it runs
        assert httpx.get(url + "/v1/me", headers={"X-API-Key": reader["key"]}).status_code == 401
        audit = httpx.get(url + "/v1/audit", headers={"Authorization": f"Bearer {admin['key']}"}).json()
        assert [e["action"] for e in audit][:3] == ["revoke_key", "create_key", "create_key"]
