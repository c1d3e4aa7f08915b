"""Calibrate the shipped decision table `src/vultus/data/thresholds.json` on every identity-labelled
and single-person data set in ../shared/data, and show by leave-one-data-set-out that its false
accept rates hold on data it was not calibrated on.

Data sets (impostor pairs are pairs of different people *within* one set):
- LFW (7,701 pair images, centre face), ORL (400), FG-NET (1,002, children to old age);
- UTKFace (2,783 images, all of different people): impostors only.

For each recognizer (sface, dlib, sface+dlib; plain and with flip TTA):
- fusion weights and the best-accuracy threshold: logistic regression / best split on LFW pairs.txt
  (unchanged: the only set with a pairs protocol);
- a FAR threshold per target, by the rule chosen below. A data set can *measure* a FAR f when it
  has at least 10 / f impostor pairs (deeper FARs are extended from its tail for `worst`).

Rules compared (leave-one-data-set-out: thresholds from the other sets, FAR observed on the left-out
one, judged where it can measure the target):
- `lfw`: LFW alone (the thresholds shipped before);
- `pooled`: all impostor pairs of the sets pooled (LFW's 29.6 M pairs dominate);
- `worst`: per set, the threshold at f (extended past what the set can measure, see `per_set`);
  the highest of them;
- `worst/m`: `worst` at the target divided by m, the smallest m in M_GRID for which every
  leave-one-out FAR stays within 2x of the target, for every recognizer and target judged
  (a safety margin learned from leave-one-out).
The table is written by the rule given (`--rule=`, default `lfw`; `auto`: the first rule that meets
the goal on every judged case). The report gives every rule's leave-one-out FARs and its cost in
TAR on LFW, so the choice is made on figures: see docs/benchmarks.md.

Run: make calibrate [RULE=lfw|pooled|worst|worst/M|auto]   (bench/results/cache reused; ~40 min cold;
`--cached-only` uses only what is cached and keeps the previous entries where LFW is missing)
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from _common import DATA, LFW, RESULTS, ROOT, git_rev, lfw_images, machine, write_section
from vultus.eval import metrics
from vultus.eval.batch import cache_path, embed_files, load_cache
from vultus.eval.pairs import read_pairs

FARS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
RECOGNIZERS = (("sface",), ("dlib",), ("sface", "dlib"))
TABLE = ROOT / "src" / "vultus" / "data" / "thresholds.json"
MODELS = ("sface", "dlib")
GOAL = 2.0  # observed FAR on left-out data at most GOAL x the target
RULE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--rule=")), "lfw")  # or "auto", "worst", ...
M_GRID = (1, 2, 3, 5, 10, 20, 30, 50, 100)
DUPLICATE = (0.9, 0.98)  # sface and dlib cosines above which two images are the same photo


@dataclass
class DataSet:
    name: str
    paths: list[Path]
    identity: list[str]
    pick: str


def data_sets() -> list[DataSet]:
    lfw = lfw_images()
    orl = sorted((DATA / "orl").glob("s*/*.pgm"))
    fg = sorted((DATA / "fgnet" / "images").glob("*.JPG"))
    utk = sorted((DATA / "utkface" / "images").glob("*.jpg"))
    return [DataSet("LFW", lfw, [p.parent.name for p in lfw], "center"),
            DataSet("ORL", orl, [p.parent.name for p in orl], "largest"),
            DataSet("FG-NET", fg, [p.name[:3] for p in fg], "largest"),
            DataSet("UTKFace", utk, [p.name for p in utk], "largest")]  # every image a different person


def embeddings(paths: list[Path], pick: str, flip: bool, compute: bool) -> dict[str, dict[Path, np.ndarray | None]]:
    """Per model, the vector of every path (None: no face): from the cache of both models
    (bench/results/cache) when it holds them all, else from (and into) one cache per model, so a set
    embedded for one model alone (e.g. by another benchmark) is not embedded again. Without
    `compute`, a model that no cache holds for every path is left out."""
    suffix = ":flip" if flip else ""
    cache = RESULTS / "cache"
    both = load_cache(cache_path(cache, "yunet", MODELS, pick))
    out = {}
    for m in MODELS:
        if all(str(p) in both for p in paths):
            out[m] = {p: None if both[str(p)] is None else both[str(p)][m + suffix] for p in paths}
            continue
        one = load_cache(cache_path(cache, "yunet", (m,), pick))
        if compute or all(str(p) in one for p in paths):
            e = embed_files(paths, "yunet", m + suffix, 2, pick, cache=cache)
            out[m] = {p: None if e[p] is None else e[p][m] for p in paths}
    return out


def drop_duplicate_photos(vec: dict[str, np.ndarray]) -> np.ndarray:
    """Rows to keep so that no two are the same photo: UTKFace holds some images twice under two
    labels (cosine ~1 on both models); such a pair is one person, not an impostor pair."""
    keep = np.ones(len(vec["sface"]), bool)
    s, d = vec["sface"] @ vec["sface"].T, vec["dlib"] @ vec["dlib"].T
    i, j = np.nonzero(np.triu((s >= DUPLICATE[0]) & (d >= DUPLICATE[1]), 1))
    keep[j] = False
    return keep


def scores(mats: list[np.ndarray], w: np.ndarray, ident: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) fused scores of all unordered pairs, sorted ascending."""
    gen, imp = [], []
    for start in range(0, len(ident), 1024):
        block = sum(wi * (m[start:start + 1024] @ m.T) for wi, m in zip(w, mats))
        rows = np.arange(start, min(start + 1024, len(ident)))
        upper = np.arange(len(ident))[None, :] > rows[:, None]
        same = ident[rows][:, None] == ident[None, :]
        gen.append(block[upper & same])
        imp.append(block[upper & ~same])
    return np.sort(np.concatenate(gen)), np.sort(np.concatenate(imp))


def far_of(imp: np.ndarray, t: float) -> float:
    """Share of (ascending) impostor scores at or above t."""
    return float(len(imp) - np.searchsorted(imp, t, "left")) / len(imp)


def measurable(imp: np.ndarray, far: float) -> bool:
    return len(imp) >= 10 / far * (1 - 1e-9)  # the tolerance keeps far = 10 / len(imp) measurable


def at_far(imp: np.ndarray, far: float) -> float | None:
    """metrics.threshold_at_far on an ascending-sorted array, without sorting it again."""
    if not measurable(imp, far):
        return None
    k = int(np.floor(far * len(imp)))  # at most k impostors may pass
    return float(np.nextafter(imp[len(imp) - 1 - k], np.inf))


def per_set(imp: np.ndarray, far: float) -> float:
    """This set's threshold at `far`: measured where it has 10 / far impostor pairs; deeper, extended
    from its deepest measured decade by that decade's step (impostor tails fall at least as fast as
    an exponential, so this errs high)."""
    if measurable(imp, far):
        return at_far(imp, far)
    deep = 10 / len(imp)
    t1, t2 = at_far(imp, deep * 10), at_far(imp, deep)
    return t2 + (t2 - t1) * np.log10(deep / far)


_POOLS: dict[tuple, np.ndarray] = {}


def pooled(imps: dict[str, np.ndarray]) -> np.ndarray:
    """The sorted union of some sets' impostor scores, made once per combination."""
    key = tuple(sorted((n, id(v)) for n, v in imps.items()))
    if key not in _POOLS:
        if len(_POOLS) > 5:
            _POOLS.clear()
        _POOLS[key] = np.sort(np.concatenate(list(imps.values())))
    return _POOLS[key]


def threshold(rule: str, imps: dict[str, np.ndarray], far: float) -> float | None:
    if rule == "lfw":
        return at_far(imps["LFW"], far) if "LFW" in imps else None
    if rule == "pooled":
        return at_far(pooled(imps), far)
    if rule.startswith("worst"):
        m = float(rule.partition("/")[2] or 1)
        return max(per_set(i, far / m) for i in imps.values())
    raise ValueError(rule)


def leave_one_out(rule: str, imps: dict[str, np.ndarray]) -> dict[str, dict[float, tuple[float | None, bool]]]:
    """Left-out set -> target -> (observed FAR, judged) with thresholds from the other sets."""
    out = {}
    for name, imp in imps.items():
        rest = {k: v for k, v in imps.items() if k != name}
        out[name] = {}
        for far in FARS:
            t = threshold(rule, rest, far)
            out[name][far] = (None if t is None else far_of(imp, t), measurable(imp, far))
    return out


def meets(loo: dict[str, dict[float, tuple[float | None, bool]]]) -> bool:
    return all(obs is None or not judged or obs <= GOAL * far
               for per in loo.values() for far, (obs, judged) in per.items())


def main() -> None:
    t0 = time.time()
    compute = "--cached-only" not in sys.argv
    previous = json.loads(TABLE.read_text()).get("recognizers", {}) if TABLE.is_file() else {}
    sets = data_sets()
    pairs = read_pairs(LFW / "pairs.txt", LFW / "lfw")
    labels = np.array([p.same for p in pairs])
    raw: dict[str, dict[str, dict]] = {}  # recognizer -> set -> {"gen", "imp"}
    weights, best, notes = {}, {}, {}
    for flip in (False, True):
        suffix = ":flip" if flip else ""
        emb = {}
        for ds in sets:
            e = embeddings(ds.paths, ds.pick, flip, compute)
            have = [m for m in MODELS if m in e]
            if not have:
                print(f"{ds.name}{suffix}: not embedded (--cached-only), left out", flush=True)
                continue
            ok = np.array([all(e[m][p] is not None for m in have) for p in ds.paths])
            vec = {m: np.stack([e[m][p] for p, k in zip(ds.paths, ok) if k]).astype(np.float32) for m in have}
            ident = np.array(ds.identity)[ok]
            if ds.name == "UTKFace" and set(MODELS) <= set(have):
                keep = drop_duplicate_photos(vec)
                notes["UTKFace duplicates dropped"] = int((~keep).sum())
                vec, ident = {m: v[keep] for m, v in vec.items()}, ident[keep]
            print(f"{ds.name}{suffix}: {ok.sum()}/{len(ds.paths)} images with a face, models {have}", flush=True)
            emb[ds.name] = (vec, ident, {m: e[m] for m in have})
        lfw_e = emb["LFW"][2]
        pair_x = {m: np.array([float(lfw_e[m][p.a] @ lfw_e[m][p.b]) if lfw_e[m][p.a] is not None
                               and lfw_e[m][p.b] is not None else -1.0 for p in pairs]) for m in lfw_e}
        for models in RECOGNIZERS:
            key = "+".join(models) + suffix
            if all(m in pair_x for m in models):
                x = np.column_stack([pair_x[m] for m in models])
                w = metrics.fit_fusion(x, labels)
                weights[key], best[key] = w, metrics.best_threshold(x @ w, labels)
            elif key in previous:  # LFW not embedded for a model here: keep its LFW pairs.txt calibration
                weights[key] = np.array([previous[key]["weights"][m] for m in models])
                best[key] = (previous[key]["best_accuracy"], previous[key]["best_accuracy_on_pairs"])
                notes[key] = "LFW not embedded for this run: fusion weights and best-accuracy threshold kept"
            else:
                continue
            raw[key] = {}
            for name, (vec, ident, _) in emb.items():
                if all(m in vec for m in models):
                    gen, imp = scores([vec[m] for m in models], weights[key], ident)
                    raw[key][name] = {"gen": gen.astype(np.float32), "imp": imp.astype(np.float32)}
            print(key, {n: len(v["imp"]) for n, v in raw[key].items()}, f"{time.time() - t0:.0f} s", flush=True)

    # leave-one-data-set-out for every rule; the margin m of `worst/m` learned from it
    rules = ["lfw", "pooled", "worst"]
    loo = {r: {k: leave_one_out(r, {n: v["imp"] for n, v in raw[k].items()}) for k in raw} for r in rules}
    for k in raw:  # without LFW embeddings here, "lfw" is the previous (LFW-only) table itself
        if "LFW" not in raw[k] and k in previous:
            loo["lfw"][k] = {n: {f: (far_of(v["imp"], previous[k]["far"][f"{f:g}"]), measurable(v["imp"], f))
                                 for f in FARS} for n, v in raw[k].items()}
    margin = next((m for m in M_GRID if all(meets(leave_one_out(f"worst/{m}", {n: v["imp"] for n, v in raw[k].items()}))
                                            for k in raw)), None)
    if margin is not None and margin > 1:
        rule = f"worst/{margin}"
        rules.append(rule)
        loo[rule] = {k: leave_one_out(rule, {n: v["imp"] for n, v in raw[k].items()}) for k in raw}
    meeting = [r for r in rules if all(meets(loo[r][k]) for k in raw)]
    chosen = RULE if RULE != "auto" else (meeting[0] if meeting else rules[-1])
    if chosen not in rules:
        rules.append(chosen)
        loo[chosen] = {k: leave_one_out(chosen, {n: v["imp"] for n, v in raw[k].items()}) for k in raw}
    print("rules meeting the goal:", meeting, "shipped:", chosen)
    # what each rule costs: TAR on all LFW genuine pairs, per recognizer with LFW embeddings
    costs = {r: {k: {f: float(np.mean(raw[k]["LFW"]["gen"] >= threshold(r, {n: v["imp"] for n, v in raw[k].items()}, f)))
                     for f in FARS} for k in raw if "LFW" in raw[k]} for r in rules}

    table = {}
    for key in raw:
        if chosen == "lfw" and "LFW" not in raw[key]:
            table[key] = previous[key]  # LFW alone, and LFW not embedded here: the table as it was
            continue
        imps = {n: v["imp"] for n, v in raw[key].items()}
        lfw_gen = raw[key]["LFW"]["gen"] if "LFW" in raw[key] else None
        far_table, tar_table, tar_before, observed = {}, {}, {}, {}
        for far in FARS:
            t = threshold(chosen, imps, far)
            if t is None:
                continue
            far_table[f"{far:g}"] = round(t, 6)
            before = threshold("lfw", imps, far)
            if lfw_gen is not None:
                tar_table[f"{far:g}"] = round(float(np.mean(lfw_gen >= t)), 5)
                tar_before[f"{far:g}"] = round(float(np.mean(lfw_gen >= before)), 5)
            observed[f"{far:g}"] = {n: round(far_of(i, t), 8) for n, i in imps.items()}
        table[key] = {
            "weights": {m: round(float(v), 6) for m, v in zip(key.split(":")[0].split("+"), weights[key])},
            "best_accuracy": round(best[key][0], 6),
            "best_accuracy_on_pairs": round(best[key][1], 5),
            "far": far_table,
            "tar_lfw_all_pairs": tar_table,
            "tar_lfw_all_pairs_lfw_only_thresholds": tar_before,
            "far_observed_per_set": observed,
            "genuine_pairs_lfw": None if lfw_gen is None else int(len(lfw_gen)),
            **({"note": notes[key]} if key in notes else {}),
            "impostor_pairs": {n: int(len(i)) for n, i in imps.items()},
        }
    out = TABLE
    out.write_text(json.dumps({
        "source": "LFW, ORL, FG-NET and UTKFace (../shared/data): fusion weights and best-accuracy threshold "
                  "from LFW pairs.txt; FAR thresholds by the rule " + repr(chosen) + " over the impostor pairs "
                  "within each set (see bench/calibrate.py); detector yunet",
        "rule": chosen, "goal": f"left-out FAR within {GOAL:g}x of the target",
        "notes": {k: v for k, v in notes.items() if k not in raw},
        "command": "make calibrate", "machine": machine(), "commit": git_rev(), "date": time.strftime("%Y-%m-%d"),
        "recognizers": table}, indent=1) + "\n")
    (RESULTS / "calibrate_loo.json").write_text(json.dumps(
        {r: {k: {n: {f"{f:g}": v for f, v in per.items()} for n, per in d.items()} for k, d in by.items()}
         for r, by in loo.items()}, indent=1))
    write_docs(raw, loo, rules, chosen, costs, meeting, notes, t0)
    print(f"wrote {out} in {time.time() - t0:.0f} s")


def fmt(obs: float | None, judged: bool, far: float) -> str:
    if obs is None:
        return "—"
    ratio = obs / far
    text = f"{obs:.2g} ({ratio:.1f}×)" if obs > 0 else "0"
    if not judged:
        return f"({text})"
    return f"**{text}**" if ratio > GOAL else text


def write_docs(raw, loo, rules, chosen, costs, meeting, notes, t0) -> None:
    sets = list(next(iter(raw.values())))
    n_imp = {n: len(v["imp"]) for n, v in next(iter(raw.values())).items()}
    lines = [
        "## Decision thresholds on data they were not calibrated on (leave-one-data-set-out)",
        "",
        "Impostor pairs: different people within one set (" +
        ", ".join(f"{n} {n_imp[n]:,}" for n in sets) + " for `sface`). For each left-out set, thresholds come "
        "from the other sets by the rule, and the table gives the FAR observed on the left-out set and its ratio "
        f"to the target. Goal: at most {GOAL:g}× the target; **bold** misses it; (in brackets): the set has fewer "
        "than 10 / target impostor pairs, too few to judge; —: no other set can measure that target.",
        "",
        f"Rules: `lfw` = LFW alone (shipped before); `pooled` = all sets' impostor pairs pooled; `worst` = the "
        f"highest of the per-set thresholds; `worst/m` = `worst` at target / m, m the smallest that meets "
        f"the goal everywhere. **Shipped: `{chosen}`.**",
        "",
    ]
    for key in raw:
        lines += [f"**{key}**", "", "| rule | left out | " + " | ".join(f"{f:g}" for f in FARS) + " |",
                  "|---|---|" + "---|" * len(FARS)]
        for r in rules:
            for n in loo[r][key]:
                lines.append(f"| {r} | {n} | " + " | ".join(fmt(*loo[r][key][n][f], f) for f in FARS) + " |")
        lines.append("")
    lines += ["What each rule costs: TAR on all LFW genuine pairs (8,101) at each target FAR, thresholds from all "
              "four sets by the rule (`lfw`: LFW alone):", "",
              "| recognizer | rule | " + " | ".join(f"FAR {f:g}" for f in FARS) + " |", "|---|---|" + "---|" * len(FARS)]
    for r in rules:
        for key, tar in costs[r].items():
            lines.append(f"| {key} | {r} | " + " | ".join(f"{tar[f]:.2%}" for f in FARS) + " |")
    lines += ["", f"Rules that meet the goal on every judged left-out case: {', '.join(meeting) or 'none'}. "
              f"Shipped (`make calibrate RULE={chosen}`): `{chosen}`. The rule is a choice made on these two tables "
              "(FAR held on unseen data against TAR given up), not by the script: a single threshold per FAR that "
              "holds on every set here costs most of the TAR, because the impostor tails differ by orders of "
              "magnitude between sets (children, scanned photos, UTKFace's repeated people)."]
    lines += [""] + [f"- {k}: {v}" for k, v in notes.items()]
    lines += ["", f"Machine: {machine()}; commit {git_rev()}; {time.time() - t0:.0f} s with cached embeddings. "
              "Command: `make calibrate` (rerun it whenever the embedders change, e.g. a new runtime)."]
    write_section("calibration-loo", "\n".join(lines))


if __name__ == "__main__":
    main()
