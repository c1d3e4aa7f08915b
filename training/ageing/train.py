"""Train and measure the age adapter on FG-NET, identity-disjoint, in the issue's three settings:
(i) the shipped embeddings as they are, (ii) an adapter fitted on authentic training faces only,
(iii) an adapter fitted on authentic + filtered synthetic faces of the training identities.

Protocol: 82 subjects, 5 identity folds, repeated with 3 shuffles (15 train/test splits). The test
subjects of a split are never seen by its adapter: not by the fit, not by the choice of family and
parameter (inner 3-fold cross-validation on the training subjects, objective: EER of pairs enrolled
under 13 at gaps of 3+ years), not by the synthetic filter (which compares with training identities
only). Each shuffle pools its 5 test folds' pairs (pairs never cross folds); figures are the mean
and the spread (standard deviation) over the 3 shuffles.

Then the final adapter per embedder: the better setting, its parameter chosen by the same inner
cross-validation on all 82 subjects, fitted on all of them, exported to ONNX
(src/vultus/weights/age_adapter_<model>.onnx), checked on LFW (10-fold accuracy with and without),
and described in docs/models/age_adapter.md. The benchmark section goes to docs/benchmarks.md.

Run: make train-ageing   (python -m training.ageing.train; renders the synthetic faces first when
bench/results/ageing_synth/synth.npz is missing, ~15 min on 2 quiet cores; then a few minutes)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _common import DATA, LFW, RESULTS, git_rev, lfw_images, machine, write_section  # noqa: E402
from calibrate import embeddings as cached_embeddings  # noqa: E402

from training.ageing import synthesize  # noqa: E402
from training.ageing.fit import GRID, Adapter, fit  # noqa: E402
from training.common.export import check_agreement  # noqa: E402
from vultus.ageing.data import read_fgnet  # noqa: E402
from vultus.ageing.evaluate import GAP_BINS, Pairs, evaluate_pairs, make_pairs, score_cell  # noqa: E402
from vultus.ageing.synth import filter_sample  # noqa: E402
from vultus.decide import Recognizer  # noqa: E402
from vultus.eval.batch import embed_files  # noqa: E402
from vultus.eval.pairs import read_pairs, score_pairs, ten_fold  # noqa: E402

MODELS = ("sface", "dlib")
RECOGNIZERS = ("sface", "dlib", "sface+dlib")
SETTINGS = ("pretrained", "authentic", "authentic+synthetic")
SHUFFLES, FOLDS, INNER = 3, 5, 3
CHILD = 13.0
WEIGHTS = ROOT / "src" / "vultus" / "weights"
NOT_SWITCHED_ON = ("not switched on in the pipeline yet: it changes every stored template and the calibrated "
                   "thresholds, so it needs `make calibrate` on adapted embeddings and a gallery migration "
                   "(templates of existing galleries are not adapted)")


def load_authentic():
    samples = read_fgnet(DATA / "fgnet")
    emb = embed_files([s.path for s in samples], "yunet", "+".join(MODELS), 2, "largest", cache=RESULTS / "cache")
    samples = [s for s in samples if emb[s.path] is not None]
    x = {m: np.stack([emb[s.path][m] for s in samples]).astype(np.float64) for m in MODELS}
    return samples, x, np.array([s.person for s in samples]), np.array([s.age for s in samples])


def load_synthetic():
    if not (synthesize.OUT / "synth.npz").is_file():
        synthesize.main()
    z = np.load(synthesize.OUT / "synth.npz")
    usable = z["found"] & (z["problems"] == "")  # detection and quality: the split-independent filter
    return {m: z[m][usable].astype(np.float64) for m in MODELS}, z["person"][usable], z["age_to"][usable], z


def identity_filter(xs: np.ndarray, ps: np.ndarray, x: np.ndarray, person: np.ndarray, train: set) -> np.ndarray:
    """Keep a synthetic sample only if it is closer to its own training identity than to any other."""
    ids = sorted(train)
    cent = np.stack([x[person == p].mean(0) for p in ids])
    row = {p: k for k, p in enumerate(ids)}
    keep = np.zeros(len(xs), bool)
    for k in range(len(xs)):
        own = row.get(ps[k])
        if own is not None:
            keep[k] = filter_sample(xs[k], [], cent[own], np.delete(cent, own, axis=0)).keep
    return keep


def pairs_of(sel: np.ndarray, samples, vecs: dict[str, np.ndarray], rec: Recognizer) -> Pairs:
    return make_pairs([samples[i] for i in np.flatnonzero(sel)], {m: vecs[m][sel] for m in rec.models}, rec)


def child_gap3(p: Pairs):
    """Genuine pairs enrolled under 13 with a gap of 3+ years, against similar-age impostors enrolled under 13."""
    young = p.enrol_age < CHILD
    return score_cell(p.score[p.same & young & (p.gap >= 3)], p.score[~p.same & young & (p.age_diff <= 2)],
                      "under 13", "3+")


def concat(parts: list[Pairs]) -> Pairs:
    return Pairs(*(np.concatenate([getattr(p, f) for p in parts]) for f in Pairs.__dataclass_fields__))


def fit_setting(setting, m, tr, x, person, age, syn):
    """The adapter for one embedder from the training subjects `tr` (a boolean mask), or None."""
    if setting == "pretrained":
        return None
    xs, ps, ages = x[m][tr], person[tr], age[tr]
    if setting == "authentic+synthetic":
        sx, sp, sa = syn
        keep = np.isin(sp, ps) & identity_filter(sx[m], sp, x[m], person, set(ps))
        xs, ps, ages = np.r_[xs, sx[m][keep]], np.r_[ps, sp[keep]], np.r_[ages, sa[keep]]
    return xs, ps, ages


def choose(setting, m, tr, samples, x, person, age, syn, rng) -> tuple[str, float]:
    """Family and parameter by inner cross-validation on the training subjects only."""
    ids = rng.permutation(sorted(set(person[tr])))
    rec = Recognizer((m,))
    scores = {cfg: [] for cfg in GRID}
    for k in range(INNER):
        val = np.isin(person, ids[k::INNER])
        inner = tr & ~val
        data = fit_setting(setting, m, inner, x, person, age, syn)
        for cfg in GRID:
            a = fit(*data, *cfg)
            scores[cfg].append(pairs_of(val, samples, {m: a.apply(x[m])}, rec))
    eers = {cfg: child_gap3(concat(ps)).eer for cfg, ps in scores.items()}
    return min(eers, key=lambda c: (eers[c], c[0] != "wccn"))


def adapters_for(setting, tr, samples, x, person, age, syn, rng) -> dict[str, Adapter | None]:
    out = {}
    for m in MODELS:
        data = fit_setting(setting, m, tr, x, person, age, syn)
        out[m] = None if data is None else fit(*data, *choose(setting, m, tr, samples, x, person, age, syn, rng))
    return out


def cross_validate(samples, x, person, age, syn):
    people = np.array(sorted(set(person)))
    results = {s: {r: [] for r in RECOGNIZERS} for s in SETTINGS}  # per shuffle: (report, child 3+ cell)
    chosen = {s: [] for s in SETTINGS[1:]}
    for rep in range(SHUFFLES):
        rng = np.random.default_rng(rep)
        order = rng.permutation(people)
        parts = {s: {r: [] for r in RECOGNIZERS} for s in SETTINGS}
        for f in range(FOLDS):
            test = np.isin(person, order[f::FOLDS])
            for s in SETTINGS:
                ad = adapters_for(s, ~test, samples, x, person, age, syn, rng)
                if s != "pretrained":
                    chosen[s].append({m: (a.family, a.param) for m, a in ad.items()})
                vecs = {m: (x[m] if ad[m] is None else ad[m].apply(x[m])) for m in MODELS}
                for r in RECOGNIZERS:
                    parts[s][r].append(pairs_of(test, samples, vecs, Recognizer.parse(r)))
        for s in SETTINGS:
            for r in RECOGNIZERS:
                p = concat(parts[s][r])
                results[s][r].append((evaluate_pairs(p, s, len(samples), len(people), 0), child_gap3(p)))
        print(f"shuffle {rep + 1}/{SHUFFLES} done", flush=True)
    return results, chosen


def lfw_accuracy(adapters: dict[str, Adapter | None]) -> dict[str, float]:
    """LFW 10-fold accuracy of each recognizer whose models' LFW embeddings are cached (or
    computable: set AGEING_EMBED_LFW=1)."""
    pairs = read_pairs(LFW / "pairs.txt", LFW / "lfw")
    per = cached_embeddings(lfw_images(), "center", False, compute=os.environ.get("AGEING_EMBED_LFW") == "1")
    have = [m for m in MODELS if m in per]
    emb = {p: None if any(per[m][p] is None for m in have) else
           {m: (per[m][p] if adapters.get(m) is None else adapters[m].apply(per[m][p][None])[0]) for m in have}
           for p in lfw_images()}
    scores = score_pairs(pairs, emb, have)
    return {r: ten_fold(scores, Recognizer.parse(r)).accuracy_mean for r in RECOGNIZERS
            if set(Recognizer.parse(r).models) <= set(have)}


def export_onnx(adapter: Adapter, path: Path) -> str:
    """A MatMul graph (input 'embedding' [N, d] -> 'adapted' [N, d], unnormalized); returns its SHA-256."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    d = adapter.matrix.shape[0]
    w = numpy_helper.from_array(adapter.matrix.T.astype(np.float32), "A_T")
    graph = helper.make_graph([helper.make_node("MatMul", ["embedding", "A_T"], ["adapted"])], "age_adapter",
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", d])],
                              [helper.make_tensor_value_info("adapted", TensorProto.FLOAT, ["N", d])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="vultus training/ageing")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    probe = np.random.default_rng(0).normal(size=(4, d)).astype(np.float32)
    check_agreement(path, [probe], [probe @ adapter.matrix.T.astype(np.float32)], 1e-4)  # through vultus.runtime
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fmt(vals: list[float | None], pct: bool = True) -> str:
    v = [x for x in vals if x is not None]
    if not v:
        return "—"
    m, s = float(np.mean(v)), float(np.std(v))
    return f"{m:.1%} ± {s:.1%}" if pct else f"{m:.3f} ± {s:.3f}"


def main() -> None:
    t0 = time.time()
    samples, x, person, age = load_authentic()
    sx, sp, sa, raw = load_synthetic()
    syn = (sx, sp, sa)
    results, chosen = cross_validate(samples, x, person, age, syn)
    summary = {}
    lines = []
    for r in RECOGNIZERS:
        rows = []
        for s in SETTINGS:
            reps = results[s][r]
            child3 = [c.eer for _, c in reps]
            summary.setdefault(r, {})[s] = {"child_gap3_eer": child3,
                                            "cells": [rep.to_dict()["cells"] for rep, _ in reps]}
            for group in ("under 13", "13-17", "adult"):
                for g, _, _ in GAP_BINS:
                    cells = [rep.cell(group, g) for rep, _ in reps]
                    rows.append([s, group, g, cells[0].genuine, fmt([c.eer for c in cells]),
                                 fmt([c.tar_1e2 for c in cells])])
            rows.append([s, "under 13", "**3+**", reps[0][1].genuine, f"**{fmt(child3)}**",
                         fmt([c.tar_1e2 for _, c in reps])])
        lines.append((r, rows))

    base = {r: np.mean(summary[r]["pretrained"]["child_gap3_eer"]) for r in RECOGNIZERS}
    rel = {r: {s: 1 - np.mean(summary[r][s]["child_gap3_eer"]) / base[r] for s in SETTINGS[1:]} for r in RECOGNIZERS}
    # final adapters: the better adapted setting on the default recognizer's cross-validated figure
    best = max(SETTINGS[1:], key=lambda s: rel["sface"][s])
    final = adapters_for(best, np.ones(len(person), bool), samples, x, person, age, syn, np.random.default_rng(99))
    lfw_before = lfw_accuracy({})
    lfw_after = lfw_accuracy(final)
    shas = {}
    for m, a in final.items():
        shas[m] = export_onnx(a, WEIGHTS / f"age_adapter_{m}.onnx")
    helps = rel["sface"][best] > 0
    # the rule; switching it on is a separate step (see NOT_SWITCHED_ON)
    default_on = bool(helps and lfw_before["sface"] - lfw_after["sface"] <= 0.001)
    synth_kept = {"rendered": int(len(raw["found"])), "face": int(raw["found"].sum()),
                  "quality": int((raw["found"] & (raw["problems"] == "")).sum())}
    report = {"command": "make train-ageing", "machine": machine(), "commit": git_rev(),
              "date": time.strftime("%Y-%m-%d"), "relative_child_gap3_eer_cut": rel, "best_setting": best,
              "final": {m: {"family": a.family, "param": a.param, "sha256": shas[m]} for m, a in final.items()},
              "chosen_per_split": chosen, "lfw_accuracy_without": lfw_before, "lfw_accuracy_with": lfw_after,
              "default_on": default_on, "synthetic": synth_kept, "summary": summary}
    (RESULTS / "ageing_cv.json").write_text(json.dumps(report, indent=1, default=float))
    (WEIGHTS / "age_adapter.json").write_text(json.dumps({
        "setting": best, "meets_default_rule": default_on, "default_on": False, "why_not_default": NOT_SWITCHED_ON,
        "models": {m: {"file": f"age_adapter_{m}.onnx", "sha256": shas[m], "family": a.family, "param": a.param}
                   for m, a in final.items()},
        "command": "make train-ageing", "commit": git_rev(), "date": time.strftime("%Y-%m-%d")}, indent=1) + "\n")
    write_docs(lines, rel, best, final, lfw_before, lfw_after, default_on, synth_kept, chosen, t0)
    write_card(lines, rel, best, final, shas, lfw_before, lfw_after, default_on, synth_kept, chosen)
    print(json.dumps({k: report[k] for k in ("relative_child_gap3_eer_cut", "best_setting", "lfw_accuracy_without",
                                             "lfw_accuracy_with", "default_on", "synthetic")}, indent=1, default=float))


def write_docs(lines, rel, best, final, lfw_before, lfw_after, default_on, synth_kept, chosen, t0) -> None:
    head = (f"Identity-disjoint cross-validation on FG-NET (82 subjects, {FOLDS} folds x {SHUFFLES} shuffles; "
            "mean ± standard deviation over the shuffles; impostors: different people at most 2 years apart). "
            "Settings: (i) pretrained = the shipped embeddings, (ii) authentic = age adapter fitted on the "
            "training subjects' real faces, (iii) authentic+synthetic = plus their filtered synthetic aged faces. "
            f"Machine: {machine()}; commit {git_rev()}; {time.time() - t0:.0f} s once embedded.\n"
            "Command: `make train-ageing`\n")
    goal = []
    for r in RECOGNIZERS:
        goal.append(f"| {r} | {rel[r]['authentic']:+.1%} | {rel[r]['authentic+synthetic']:+.1%} |")
    body = [head, f"Synthetic faces: {synth_kept['rendered']} rendered, {synth_kept['face']} detected, "
            f"{synth_kept['quality']} of enrollment quality (the identity filter then runs per split).\n",
            "Relative cut of the child (enrolled under 13) EER at gaps of 3+ years against the pretrained "
            "embedding (goal: authentic+synthetic at least +20% and above authentic):\n",
            "| recognizer | (ii) authentic | (iii) authentic+synthetic |", "|---|---|---|", *goal, ""]
    for r, rows in lines:
        body += [f"**{r}**\n", "| setting | enrolled | gap (years) | genuine pairs (per shuffle) | EER | TAR at FAR 1e-2 |",
                 "|---|---|---|---|---|---|", *[f"| {' | '.join(map(str, row))} |" for row in rows], ""]
    body += [f"Final adapter ({best}, fitted on all 82 subjects): " +
             ", ".join(f"{m}: {a.family} {a.param:g}" for m, a in final.items()) +
             ". LFW 10-fold accuracy without / with it: " +
             ", ".join(f"{r} {lfw_before[r]:.2%} / {lfw_after[r]:.2%}" for r in lfw_before) +
             f". Meets the on-by-default rule (helps held-out subjects, costs at most 0.1 point of LFW accuracy "
             f"for the default `sface`): {'yes' if default_on else 'no'}; on by default: no, {NOT_SWITCHED_ON}."]
    write_section("ageing-adapter", "## Recognition across ageing: age adapter (FG-NET, identity-disjoint)\n\n" +
                  "\n".join(body))


def write_card(lines, rel, best, final, shas, lfw_before, lfw_after, default_on, synth_kept, chosen) -> None:
    from collections import Counter

    picks = {m: Counter(f"{c[m][0]} {c[m][1]:g}" for c in chosen[best]).most_common() for m in MODELS}
    table = []
    for r, rows in lines:
        if r in ("sface", "sface+dlib"):
            table += [f"**{r}**", "", "| setting | enrolled | gap (years) | genuine pairs | EER | TAR at FAR 1e-2 |",
                      "|---|---|---|---|---|---|", *[f"| {' | '.join(map(str, row))} |" for row in rows], ""]
    card = f"""# Model card: age adapter (`age_adapter_sface`, `age_adapter_dlib`)

Generated by `make train-ageing` (training/ageing/train.py); commit {git_rev()}, {time.strftime("%Y-%m-%d")}.

## What it is
A linear map on one embedder's 128-d unit vectors, x -> normalize(A x), meant to make one person's
embeddings at different ages closer. One per embedder: `weights/age_adapter_sface.onnx`,
`weights/age_adapter_dlib.onnx` inside the vultus package (a single MatMul, 64 KB each; SHA-256
{shas.get("sface", "")[:16]}... and {shas.get("dlib", "")[:16]}..., checked at load against
`weights/age_adapter.json`). Families tried: within-class covariance normalization of cross-age
differences, shrunk toward the identity ("wccn", parameter lam), and nuisance attribute projection
("nap", k directions removed); see training/ageing/fit.py. Shipped: {best}, with
{", ".join(f"{m} {a.family} {a.param:g}" for m, a in final.items())}.

**Meets the on-by-default rule: {"yes" if default_on else "no"}** (on only if it helps held-out subjects and
costs at most 0.1 point of LFW 10-fold accuracy for the default `sface`). **On by default: no**,
{NOT_SWITCHED_ON}. Opt in with
`vultus eval ageing --adapter` or `vultus.ageing.adapter.apply_adapters`. The shipped decision
thresholds are calibrated for the plain embeddings, not for adapted ones.

## Training data and protocol
- FG-NET (82 subjects, 1,002 images, ages 0-69; research use only), embedded by the shipped models
  (yunet, largest face). Authentic faces plus, in setting (iii), synthetic faces of the *training*
  subjects made by the project's CPU generator (vultus.ageing.synth: cardioidal-strain growth of
  the 68 landmarks with a dense warp, plus texture ageing), each image rendered at age + 5 and
  age - 5: {synth_kept["rendered"]} rendered, {synth_kept["face"]} detected, {synth_kept["quality"]} of
  enrollment quality; then per split only those closer to their own training identity than to
  any other are kept. The growth curve's three numbers come from all 82 subjects' landmarks
  (population anthropometry, not identity; the only use of test subjects outside the embeddings).
- Identity-disjoint: {FOLDS} folds of subjects x {SHUFFLES} shuffles (15 splits); the family and
  parameter are chosen by an inner 3-fold cross-validation on each split's training subjects
  (objective: EER of pairs enrolled under 13 at gaps of 3+ years). Chosen per split
  ({best}): {"; ".join(f"{m}: " + ", ".join(f"{k} x{n}" for k, n in v) for m, v in picks.items())}.
- Metrics on the test subjects of each split, pooled over a shuffle's folds (pairs never cross
  folds): genuine pairs of one person at two ages (earlier image enrolled) against impostors of
  similar age (different people at most 2 years apart); mean ± standard deviation over shuffles.

## Figures (held-out subjects)
Relative cut of the child (enrolled under 13) EER at gaps of 3+ years against the plain embedding:
{", ".join(f"{r}: (ii) {rel[r]['authentic']:+.1%}, (iii) {rel[r]['authentic+synthetic']:+.1%}" for r in RECOGNIZERS)}
(goal of issue 20: (iii) at least +20% and above (ii)).

{chr(10).join(table)}
LFW 10-fold accuracy without / with the final adapter:
{", ".join(f"{r} {lfw_before[r]:.2%} / {lfw_after[r]:.2%}" for r in lfw_before)}
(recognizers with dlib are missing here when LFW had not been embedded with dlib for the run).

## Limits
- 82 people, mostly of European origin, scanned personal photographs: a small, old and narrow
  population. Figures on your own data: `vultus eval ageing --csv yours.csv --adapter`.
- FG-NET is for non-commercial research; the adapter is derived from it (hence
  `commercial_use=False` in the registry).
- The synthetic generator changes face shape and skin detail only; it does not add new wrinkles,
  hair or other ageing features.
"""
    (ROOT / "docs" / "models").mkdir(parents=True, exist_ok=True)
    (ROOT / "docs" / "models" / "age_adapter.md").write_text(card)


if __name__ == "__main__":
    main()
