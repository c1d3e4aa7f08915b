"""Issue 15, gallery cases, before and after: each case run on an older source tree and on this
one, side by side, with only the API both share.

Run: .venv/bin/python bench/hardening_gallery.py --before /tmp/gallery-before/src
(make the older tree with `git archive <commit> src | tar -x -C /tmp/gallery-before`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import DATA, ROOT, git_rev, machine, write_section

PROBE = r'''
import json, os, sqlite3, stat, subprocess, sys, tempfile
from pathlib import Path
import numpy as np
from vultus.gallery import Gallery
from vultus.pipeline import Pipeline

EX, LFW = Path(sys.argv[1]), Path(sys.argv[2])
pipe = Pipeline("yunet", "sface")
tmp = Path(tempfile.mkdtemp())
res = {}

def attempt(fn):
    try:
        return "accepted", fn()
    except Exception as e:
        return "refused", f"{type(e).__name__}: {str(e)[:90]}"

# 4. names, metadata, rename onto itself
g = Gallery(tmp / "names.db", pipeline=pipe)
g.enroll("obama", [EX / "obama.jpg"])
res["zero_width_name"] = attempt(lambda: g.enroll("obama\u200b", [EX / "obama2.jpg"]))[0]
res["identities_after_zero_width"] = len(g.identities())
res["metadata_15MB"] = attempt(lambda: g.enroll("big", [EX / "biden.jpg"], metadata={"b": "x" * 15_000_000}))[0]
res["rename_onto_itself"] = attempt(lambda: g.rename("obama", "obama"))[0]
g.close()

# 6. a rerun of the same enrollment
g = Gallery(tmp / "rerun.db", pipeline=pipe)
imgs = [EX / "obama.jpg", EX / "obama2.jpg", EX / "obama3.jpg"]
g.enroll("obama", imgs)
attempt(lambda: g.enroll("obama", imgs))
res["templates_after_two_runs_of_3_images"] = g.templates()
g.close()

# 7. one corrupted template in a 30-person gallery (LFW), 18 probes of other enrolled people
people = sorted(d for d in (LFW / "lfw").iterdir() if len(list(d.glob("*.jpg"))) >= 2)[:30]
path = tmp / "corrupt.db"
g = Gallery(path, pipeline=pipe)
ids = {}
for d in people:
    r = g.enroll(d.name, [sorted(d.glob("*.jpg"))[0]], policy=None)
    ids[d.name] = r.face_ids[0]
g.close()
victim = people[0].name
db = sqlite3.connect(path)
blob = db.execute("SELECT vector FROM embeddings WHERE face_id=?", (ids[victim],)).fetchone()[0]
v = np.frombuffer(blob, np.uint32) ^ np.uint32(0x40000000)
db.execute("UPDATE embeddings SET vector=? WHERE face_id=?", (v.tobytes(), ids[victim]))
db.commit(); db.close()
g = Gallery(path, pipeline=pipe)
named = 0
probes = 0
for d in people[1:19]:
    for r in g.identify(sorted(d.glob("*.jpg"))[1]):
        probes += 1
        named += r.identity == victim
res["probes_named_as_corrupted_person"] = f"{named} of {probes}"
g.close()

# 8. a deletion on an idle server
path = tmp / "delete.db"
g = Gallery(path, pipeline=pipe)
g.enroll("obama", [EX / "obama.jpg"]); g.enroll("biden", [EX / "biden.jpg"])
db = sqlite3.connect(path)
vec = db.execute("SELECT vector FROM embeddings ORDER BY face_id LIMIT 1").fetchone()[0]
db.close()
g.remove("obama")
files = [p for p in tmp.iterdir() if p.name.startswith("delete.db") and p.is_file()]
res["deleted_template_still_on_disk_in"] = [p.name for p in files if vec[:64] in p.read_bytes()] or "nowhere"
res["file_modes"] = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
g.close()

# 9. empty and foreign files, a damaged database
empty = tmp / "empty.db"; empty.touch()
res["empty_file_as_gallery"] = attempt(lambda: Gallery(empty, pipeline=pipe).close())[0]
foreign = tmp / "foreign.db"
db = sqlite3.connect(foreign); db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"); db.commit(); db.close()
res["foreign_sqlite_as_gallery"] = attempt(lambda: Gallery(foreign, pipeline=pipe).close())[0]
dam = tmp / "damaged.db"
g = Gallery(dam, pipeline=pipe); g.enroll("obama", [EX / "obama.jpg"]); g.close()
data = bytearray(dam.read_bytes())
for k in range(8192, len(data) - 16, 4096):
    data[k:k + 16] = b"\xff" * 16
dam.write_bytes(bytes(data))
p = subprocess.run([sys.executable, "-m", "vultus", "gallery", "list", "--gallery", str(dam)], capture_output=True, text=True)
res["damaged_database_cli"] = "traceback" if "Traceback" in p.stderr else p.stderr.strip().splitlines()[-1][:100]

# 10. the audit log
path = tmp / "audit.db"
g = Gallery(path, pipeline=pipe)
g.enroll("obama", [EX / "obama.jpg"]); g.remove("obama")
def used(path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n = (db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]) * \
        db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    return n
before = used(path)
for k in range(2000):
    g.store.audit("key1", "identify", None, {"faces": 1, "identities": ["obama"], "ms": 41.2})
g.close()
res["audit_bytes_per_identify"] = round((used(path) - before) / 2000)
db = sqlite3.connect(path)
rid = db.execute("SELECT id FROM audit WHERE action='delete'").fetchone()[0]
res["audit_insert_or_replace"] = attempt(lambda: (db.execute(
    "INSERT OR REPLACE INTO audit(id, at, actor, action, detail) VALUES (?, 0, 'x', 'noop', '{}')", (rid,)), db.commit()))[0]
for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit'").fetchall():
    db.execute(f"DROP TRIGGER {name}")
db.execute("UPDATE audit SET action='noop' WHERE id=?", (rid,)); db.commit(); db.close()
p = subprocess.run([sys.executable, "-m", "vultus", "gallery", "audit", "--verify", "--gallery", str(path)],
                   capture_output=True, text=True)
res["audit_edit_after_dropping_triggers"] = "detected (exit 1)" if p.returncode == 1 and "altered" in p.stderr else "undetected"
print(json.dumps(res))
'''

CASES = [
    ("4", "identity named `obama` + U+200B next to `obama`", "zero_width_name"),
    ("4", "identities after that", "identities_after_zero_width"),
    ("4", "15 MB of metadata", "metadata_15MB"),
    ("4", "rename `obama` onto `obama`", "rename_onto_itself"),
    ("6", "templates after enrolling the same 3 images twice", "templates_after_two_runs_of_3_images"),
    ("7", "probes named as the person whose template was corrupted (30 people)", "probes_named_as_corrupted_person"),
    ("8", "deleted template still on disk (gallery left open, idle)", "deleted_template_still_on_disk_in"),
    ("9", "file modes of a new gallery", "file_modes"),
    ("9", "empty file opened as a gallery", "empty_file_as_gallery"),
    ("9", "another program's SQLite file opened as a gallery", "foreign_sqlite_as_gallery"),
    ("9", "`vultus gallery list` on a damaged database", "damaged_database_cli"),
    ("10", "`INSERT OR REPLACE` over the delete record", "audit_insert_or_replace"),
    ("10", "record edited after dropping the triggers", "audit_edit_after_dropping_triggers"),
    ("10", "audit bytes per identify", "audit_bytes_per_identify"),
]


def run(src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    p = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "examples" / "images"), str(DATA / "lfw")],
                       capture_output=True, text=True, env=env, timeout=1200)
    if p.returncode:
        raise SystemExit(f"probe failed on {src}:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=True, help="src/ of the tree before the fixes")
    ap.add_argument("--before-rev", default="d93402c")
    a = ap.parse_args()
    before, after = run(a.before.resolve()), run(ROOT / "src")
    rows = "\n".join(f"| {item} | {what} | {before[key]} | {after[key]} |" for item, what, key in CASES)
    md = f"""## Hardening, gallery (issue 15, items 4 and 6-10): before and after

Command: `.venv/bin/python bench/hardening_gallery.py --before /tmp/gallery-before/src` (the tree of
{a.before_rev}, made with `git archive {a.before_rev} src`), against commit {git_rev()}. Machine: {machine()}.
{time.strftime('%Y-%m-%d')}. Each case has a regression test in `tests/gallery/test_hardening.py` that
fails on the old tree.

| item | case | before | after |
|---|---|---|---|
{rows}

Audit retention after the fix: records older than 365 days are pruned at open (`vultus gallery audit
--retention-days N`, 0 keeps all); the hash chain stays verifiable from the pruning anchor.
"""
    write_section("hardening-gallery", md)
    print(md)


if __name__ == "__main__":
    main()
