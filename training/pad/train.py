"""Train and choose the PAD model on NUAA: texture features + classical classifiers against a small
CNN, everything chosen on the validation subjects; the winner is exported for vultus.

    make train-pad          (= python -m training.pad.train)

Steps, all on the fixed subject-disjoint split of `data.py`:
1. every candidate (crop scale x family x hyperparameters) is fitted on the train subjects and
   scored on the validation subjects by ROC AUC;
2. each family's best candidate (validation AUC, then ACER at the validation EER threshold, then
   the separation d' of the validation scores) gets its threshold at the validation EER point; the
   family that wins by the same rule is shipped;
3. the test subjects are scored once per family, for the comparison table;
4. a 4-fold subject cross-validation repeats the whole recipe (train / validation / test subjects
   disjoint in every fold) so that every subject is tested once: a steadier estimate than the
   60 test frames of the fixed split.
Outputs: `src/vultus/weights/pad.onnx` + `pad.json` (the shipped model) and
`bench/results/pad/training.json` (every figure; bench/antispoof.py reports them).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vultus.eval.metrics import auc, roc
from vultus.eval.pad import eer_threshold, pad_metrics

from vultus.models.analyze._texture import features

from . import data

WEIGHTS = data.ROOT / "src" / "vultus" / "weights"
SIZE = 64
SCALES = (1.0, 1.6)
KINDS = ("lbp", "fft", "lbp+fft")
COPIES, JITTER = 2, 0.08  # CNN training crops per frame, and their box jitter
CNN_SCALES = (1.6,)  # the CNN is trained at one crop scale only: compute on the shared 2-core machine


def val_auc(scores: np.ndarray, live: np.ndarray) -> float:
    far, tar, _ = roc(np.asarray(scores, np.float64), live)
    return auc(far, tar)


def separation(scores: np.ndarray, live: np.ndarray, logit: bool) -> float:
    """d' of the validation scores (mean gap over the pooled standard deviation), the tie-break when
    several candidates reach the same validation AUC (NUAA's validation subjects often separate
    perfectly). CNN probabilities are compared on their logit scale, like the classifiers' margins."""
    s = np.asarray(scores, np.float64)
    if logit:
        s = np.clip(s, 1e-6, 1 - 1e-6)
        s = np.log(s / (1 - s))
    a, b = s[live], s[~live]
    return float((a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2 + 1e-12))


def classifiers():
    """(name, factory) of the classical classifiers tried, each on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    for c in (0.01, 0.1, 1.0, 10.0):
        yield f"logreg C={c}", lambda c=c: make_pipeline(StandardScaler(), LogisticRegression(
            C=c, max_iter=5000, class_weight="balanced"))
    for c in (1.0, 10.0, 100.0):
        yield f"svm-rbf C={c}", lambda c=c: make_pipeline(StandardScaler(), SVC(
            C=c, gamma="scale", class_weight="balanced", probability=False))


def classic_scores(model, x: np.ndarray) -> np.ndarray:
    return model.decision_function(x)


def fit_classic(kind: str, clf_name: str, train: data.Crops) -> object:
    factory = dict(classifiers())[clf_name]
    return factory().fit(features(train.images, kind), train.live)


def fit_cnn(train: data.Crops, val: data.Crops, epochs: int, seed: int = 0):
    from .cnn import train as train_cnn

    return train_cnn(train.images, train.live, val.images, val.live, epochs=epochs, seed=seed,
                     log=lambda *_: None)


def cnn_scores(model, crops: np.ndarray) -> np.ndarray:
    from .cnn import predict

    return predict(model, crops)


def run_recipe(choice: dict, subjects: dict[str, list[str]], epochs: int) -> dict[str, np.ndarray]:
    """Fit one chosen candidate on `subjects['train']`, threshold on 'val', score 'test'."""
    scale = choice["scale"]
    val = data.crops("val", SIZE, scale, subjects=subjects["val"])
    test = data.crops("test", SIZE, scale, subjects=subjects["test"])
    if choice["family"] == "cnn":
        train = data.crops("train", SIZE, scale, COPIES, JITTER, subjects=subjects["train"])
        model, _ = fit_cnn(train, val, epochs)
        vs, ts = cnn_scores(model, val.images), cnn_scores(model, test.images)
    else:
        train = data.crops("train", SIZE, scale, subjects=subjects["train"])
        model = fit_classic(choice["kind"], choice["classifier"], train)
        vs = classic_scores(model, features(val.images, choice["kind"]))
        ts = classic_scores(model, features(test.images, choice["kind"]))
    return {"threshold": eer_threshold(vs, val.live), "test_scores": ts, "test_live": test.live,
            "missed": len(test.missed)}


def export_linear(model, path: Path) -> None:
    """A StandardScaler + LogisticRegression pipeline as ONNX: input `features` (N, D), output
    `live` (N, 1), the probability of a live face."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    scaler, clf = model.steps[0][1], model.steps[-1][1]
    if not hasattr(clf, "coef_"):
        raise SystemExit(f"cannot export {type(clf).__name__} as a linear model")
    d = len(scaler.mean_)
    w = (clf.coef_[0] / scaler.scale_).astype(np.float32).reshape(d, 1)  # fold the scaler into the weights
    b = np.array([clf.intercept_[0] - float((clf.coef_[0] * scaler.mean_ / scaler.scale_).sum())], np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["logit"]),
         helper.make_node("Sigmoid", ["logit"], ["live"])],
        "pad_texture_linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", d])],
        [helper.make_tensor_value_info("live", TensorProto.FLOAT, ["n", 1])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vultus training/pad")
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def folds(k: int = 4) -> list[dict[str, list[str]]]:
    """Subject folds: each fold's test subjects, the rest split 9 / 3 into train / val (seeded)."""
    subjects = sorted({i.subject for i in data.items()})
    rng = np.random.default_rng(data.SEED + 1)
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    out = []
    for f in range(k):
        test = sorted(order[f::k])
        rest = [s for s in order if s not in test]
        out.append({"test": test, "val": sorted(rest[:3]), "train": sorted(rest[3:])})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--no-cv", action="store_true", help="skip the 4-fold subject cross-validation")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.time()
    split = data.split()
    print("split (subjects):", split)
    candidates = []
    cnn_models = {}
    for scale in SCALES:
        train1 = data.crops("train", SIZE, scale)
        val = data.crops("val", SIZE, scale)
        feats = {k: (features(train1.images, k), features(val.images, k)) for k in KINDS}
        for kind in KINDS:
            for name, factory in classifiers():
                model = factory().fit(feats[kind][0], train1.live)
                s = classic_scores(model, feats[kind][1])
                candidates.append({"family": "classic", "scale": scale, "kind": kind, "classifier": name,
                                   "val_auc": val_auc(s, val.live), "val_scores": s.tolist()})
                print(f"scale {scale} {kind:8s} {name:14s} val AUC {candidates[-1]['val_auc']:.4f}")
        if scale not in CNN_SCALES:
            continue
        train = data.crops("train", SIZE, scale, COPIES, JITTER)
        model, info = fit_cnn(train, val, args.epochs)
        s = cnn_scores(model, val.images)
        cnn_models[scale] = model
        candidates.append({"family": "cnn", "scale": scale, "epoch": info["epoch"], "val_auc": val_auc(s, val.live),
                           "val_scores": s.tolist()})
        print(f"scale {scale} CNN (best epoch {info['epoch']}) val AUC {candidates[-1]['val_auc']:.4f}")

    results: dict = {"split": split, "size": SIZE, "epochs": args.epochs, "candidates": [], "families": {}}
    for fam in ("classic", "cnn"):
        best = None
        for c in (c for c in candidates if c["family"] == fam):
            val = data.crops("val", SIZE, c["scale"])
            vs = np.array(c["val_scores"])
            t = eer_threshold(vs, val.live)
            c["val"] = pad_metrics(vs, val.live, t).to_dict()
            c["val_separation"] = separation(vs, val.live, fam == "cnn")
            key = (round(c["val_auc"], 6), -c["val"]["acer"], c["val_separation"])
            if best is None or key > best[0]:
                best = (key, c)
        results["families"][fam] = best[1]
    for c in candidates:
        results["candidates"].append({k: v for k, v in c.items() if k != "val_scores"})
    shipped = max(results["families"].values(),
                  key=lambda c: (round(c["val_auc"], 6), -c["val"]["acer"], c["val_separation"]))
    results["shipped"] = shipped["family"]
    print("chosen on validation:", {k: v for k, v in shipped.items() if k != "val_scores"})

    # the test subjects, once per family (the choice above is already made)
    for fam, c in results["families"].items():
        r = run_recipe(c, split, args.epochs) if fam == "classic" else None
        if fam == "cnn":  # the model trained above, not a retrained one
            val = data.crops("val", SIZE, c["scale"])
            test = data.crops("test", SIZE, c["scale"])
            model = cnn_models[c["scale"]]
            r = {"threshold": eer_threshold(cnn_scores(model, val.images), val.live),
                 "test_scores": cnn_scores(model, test.images), "test_live": test.live, "missed": len(test.missed)}
        c["test"] = pad_metrics(r["test_scores"], r["test_live"], r["threshold"]).to_dict()
        c["test"]["missed"] = r["missed"]
        print(f"{fam} on test: {c['test']}")
        c.pop("val_scores", None)

    WEIGHTS.mkdir(parents=True, exist_ok=True)
    threshold = shipped["test"]["threshold"]
    config = {"kind": "cnn" if shipped["family"] == "cnn" else "texture", "size": SIZE, "scale": shipped["scale"]}
    if shipped["family"] == "cnn":
        from .cnn import export

        export(cnn_models[shipped["scale"]], WEIGHTS / "pad.onnx", SIZE)
    else:  # the classifier as ONNX; its decision function's threshold becomes a probability one
        model = fit_classic(shipped["kind"], shipped["classifier"], data.crops("train", SIZE, shipped["scale"]))
        export_linear(model, WEIGHTS / "pad.onnx")
        config["features"] = shipped["kind"]
        threshold = float(1 / (1 + np.exp(-threshold)))
    config.update({"threshold": round(threshold, 6), "threshold_rule": "equal error rate on the validation subjects",
                   "chosen": {k: v for k, v in shipped.items() if k in ("family", "kind", "classifier", "scale", "epoch")},
                   "trained_on": "NUAA raw, subjects " + ", ".join(split["train"]), "validation_subjects": split["val"]})
    (WEIGHTS / "pad.json").write_text(json.dumps(config, indent=1) + "\n")
    print("exported", WEIGHTS / "pad.onnx", config)
    for fam, c in results["families"].items():
        print(f"{fam}: val AUC {c['val_auc']:.4f}, val ACER {c['val']['acer']:.4f}, val d' {c['val_separation']:.2f}")
    save(results, started)

    if not args.no_cv:
        results["cv"] = {}
        for fam, c in results["families"].items():
            scores, live, per_fold = [], [], []
            for fold in folds():
                r = run_recipe(c, fold, args.epochs)
                m = pad_metrics(r["test_scores"], r["test_live"], r["threshold"])
                per_fold.append({"test_subjects": fold["test"], **m.to_dict()})
                scores.append(r["test_scores"] >= r["threshold"])  # pooled: each fold at its own threshold
                live.append(r["test_live"])
                print(f"cv {fam} fold {fold['test']}: {m.to_dict()}")
            accepted, live_all = np.concatenate(scores), np.concatenate(live)
            apcer = float(accepted[~live_all].mean())
            bpcer = float(1 - accepted[live_all].mean())
            results["cv"][fam] = {"folds": per_fold, "apcer": apcer, "bpcer": bpcer, "acer": (apcer + bpcer) / 2,
                                  "auc_mean": float(np.mean([f["auc"] for f in per_fold])),
                                  "attacks": int((~live_all).sum()), "bona_fide": int(live_all.sum())}
            print(f"cv {fam} pooled: {results['cv'][fam]}")
    save(results, started)


def save(results: dict, started: float) -> None:
    results["seconds"] = round(time.time() - started)
    data.CACHE.mkdir(parents=True, exist_ok=True)
    (data.CACHE / "training.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    print("wrote", data.CACHE / "training.json", f"after {results['seconds']} s")


if __name__ == "__main__":
    main()
