"""Approximate search at 10k / 100k / 1M / 10M templates: exact NumPy, hnswlib, usearch (f32, i8),
FAISS HNSW and Milvus Lite, side by side on the same vectors and probes.

Vectors (128-d, our `sface` embeddings):
- real: every LFW image's sface embedding (bench/_common.py:lfw_embeddings). People with two or more
  images enroll all but one; the held-out image is a *mated* probe. Half of the people with one image
  are enrolled, the other half are *non-mated* probes (strangers). All probes are real faces.
- synthetic, to fill the gallery to N: identities drawn to match the real ones' distribution. Each
  identity's centre ~ N(mean of the LFW identity means, their covariance), each template = centre +
  N(0, the pooled within-identity covariance of LFW), then L2-normalized; templates per identity
  follow LFW's images-per-person counts (capped at 10). The section reports the real and synthetic
  same-identity and best-other-identity cosines side by side.

Per backend and size, in its own process (so memory is its own): build time, insert time for 1,000
more templates, memory per template (anonymous RSS growth over the build), single-query latency on
one thread (median, p99) and queries per second, recall@1 and recall@10 against exact search, and the
open-set decision (the identity of the top template if it clears the calibrated threshold, else
unknown) compared with exact search.

Run (niced, in the background; results are cached per backend and size in bench/results/ann/):
  nice -n 10 .venv/bin/python bench/ann.py --sizes 10000 100000 1000000 --backends all
  nice -n 10 .venv/bin/python bench/ann.py --sizes 10000000 --backends exact,hnsw
  .venv/bin/python bench/ann.py --render
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, git_rev, lfw_embeddings, machine, write_section

OUT = RESULTS / "ann"
DIM = 128
QUERIES = 1000
MAX_N = 10_000_000
BACKENDS = ["exact", "hnsw", "hnsw-m32", "usearch-f32", "usearch-i8", "usearch-i8-m32", "faiss-hnsw",
            "faiss-hnsw-m32", "milvus-lite"]
EFS = [64, 128, 256, 512]


# -- data -------------------------------------------------------------------------------------------
def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def prepare() -> None:
    """Real gallery part, real probes and the synthetic fill (a 5 GiB memmap) under bench/results/ann."""
    OUT.mkdir(parents=True, exist_ok=True)
    if (OUT / "synthetic.done").exists():
        return
    paths, emb = lfw_embeddings("sface")
    by_person: dict[str, list[np.ndarray]] = {}
    for p in paths:
        if emb[p] is not None:
            by_person.setdefault(p.parent.name, []).append(emb[p]["sface"])
    rng = np.random.default_rng(0)
    names = sorted(by_person)
    gal, gal_lab, probes, probe_lab = [], [], [], []
    singles = [n for n in names if len(by_person[n]) == 1]
    strangers = set(rng.choice(singles, len(singles) // 2, replace=False).tolist())
    for k, n in enumerate(names):
        vs = by_person[n]
        if n in strangers:
            probes.append(vs[0]); probe_lab.append(-1)
        elif len(vs) >= 2:
            hold = int(rng.integers(len(vs)))
            probes.append(vs[hold]); probe_lab.append(k)
            for j, v in enumerate(vs):
                if j != hold:
                    gal.append(v); gal_lab.append(k)
        else:
            gal.append(vs[0]); gal_lab.append(k)
    probes, probe_lab = np.stack(probes), np.array(probe_lab)
    mated, non = np.flatnonzero(probe_lab >= 0), np.flatnonzero(probe_lab < 0)
    pick = np.concatenate([rng.choice(mated, min(len(mated), QUERIES // 2), replace=False),
                           rng.choice(non, QUERIES - min(len(mated), QUERIES // 2), replace=False)])
    np.savez(OUT / "real.npz", gallery=np.stack(gal), labels=np.array(gal_lab, np.int64),
             probes=probes[pick], probe_labels=probe_lab[pick], n_people=len(names))

    # the distribution of identities: centres and spread around them, from people with >= 2 images
    multi = [np.stack(by_person[n]) for n in names if len(by_person[n]) >= 2]
    means = np.stack([m.mean(0) for m in multi])
    resid = np.concatenate([m - m.mean(0) for m in multi])
    dof = sum(len(m) - 1 for m in multi)
    within = resid.T @ resid / dof
    between = np.cov(means.T) - within * np.mean([1 / len(m) for m in multi])  # remove the mean's own noise
    w, v = np.linalg.eigh(between)
    between = (v * np.clip(w, 1e-8, None)) @ v.T
    mu = means.mean(0)
    lb, lw = np.linalg.cholesky(between), np.linalg.cholesky(within + 1e-8 * np.eye(DIM))
    counts = np.clip([len(by_person[n]) for n in names], 1, 10)
    vec = np.lib.format.open_memmap(OUT / "synthetic.npy", "w+", np.float32, (MAX_N, DIM))
    lab = np.lib.format.open_memmap(OUT / "synthetic_labels.npy", "w+", np.int64, (MAX_N,))
    done, ident = 0, len(names)
    while done < MAX_N:
        n_ids = 50_000
        c = mu + rng.standard_normal((n_ids, DIM)) @ lb.T
        per = rng.choice(counts, n_ids)
        rows = min(int(per.sum()), MAX_N - done)
        owner = np.repeat(np.arange(n_ids), per)[:rows]
        vec[done:done + rows] = unit(c[owner] + rng.standard_normal((rows, DIM)) @ lw.T)
        lab[done:done + rows] = owner + ident
        done += rows
        ident += n_ids
    vec.flush()
    lab.flush()
    del vec, lab
    (OUT / "synthetic.done").write_text(json.dumps({"identities": ident}))


def gallery(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n templates: the real gallery part, then synthetic ones (memory-mapped)."""
    real = np.load(OUT / "real.npz")
    g, lab = real["gallery"], real["labels"]
    if n <= len(g):
        return g[:n], lab[:n]
    syn = np.load(OUT / "synthetic.npy", mmap_mode="r")
    slab = np.load(OUT / "synthetic_labels.npy", mmap_mode="r")
    return np.concatenate([g, syn[:n - len(g)]]), np.concatenate([lab, slab[:n - len(g)]])


def chunks(n: int, size: int = 500_000):
    """The same gallery as gallery(n), in chunks (ids, vectors), never all in memory at once."""
    real = np.load(OUT / "real.npz")
    g = real["gallery"]
    yield np.arange(min(n, len(g))), g[:n]
    syn = np.load(OUT / "synthetic.npy", mmap_mode="r")
    for a in range(0, max(n - len(g), 0), size):
        b = min(a + size, n - len(g))
        yield np.arange(len(g) + a, len(g) + b), np.asarray(syn[a:b])


def labels(n: int) -> np.ndarray:
    real = np.load(OUT / "real.npz")["labels"]
    if n <= len(real):
        return real[:n]
    return np.concatenate([real, np.load(OUT / "synthetic_labels.npy", mmap_mode="r")[:n - len(real)]])


def exact_truth(n: int, probes: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (scores, ids) of every probe, streamed over the gallery."""
    cache = OUT / f"truth_{n}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["scores"], z["ids"]
    best_s = np.full((len(probes), k), -np.inf, np.float32)
    best_i = np.zeros((len(probes), k), np.int64)
    for ids, vecs in chunks(n, 200_000):
        s = probes @ vecs.T
        top = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
        s_all = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        i_all = np.concatenate([best_i, ids[top]], 1)
        order = np.argsort(-s_all, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s_all, order, 1), np.take_along_axis(i_all, order, 1)
    np.savez(cache, scores=best_s, ids=best_i)
    return best_s, best_i


def fit_report() -> dict:
    """Same-identity and best-other cosines of real LFW vs synthetic vectors (equal numbers)."""
    real = np.load(OUT / "real.npz")
    g, lab = real["gallery"], real["labels"]
    syn = np.load(OUT / "synthetic.npy", mmap_mode="r")
    slab = np.load(OUT / "synthetic_labels.npy", mmap_mode="r")
    out = {}
    for name, v, l in (("real LFW", g, lab), ("synthetic", np.asarray(syn[:len(g)]), np.asarray(slab[:len(g)]))):
        s = v @ v.T
        np.fill_diagonal(s, -2)
        same = l[:, None] == l[None, :]
        mates = s[same & (s > -2)]
        other = np.where(same, -2, s).max(1)
        out[name] = {"n": len(v), "same_mean": float(mates.mean()), "same_sd": float(mates.std()),
                     "other_best_mean": float(other.mean()), "other_best_p99": float(np.quantile(other, 0.99)),
                     "norm_of_mean": float(np.linalg.norm(v.mean(0)))}
    return out


# -- backends ---------------------------------------------------------------------------------------
def make(backend: str, dim: int, n: int):
    """(add(ids, vecs), search(q, k) -> ids, set_ef(ef) or None, size in bytes or None, close)."""
    if backend == "exact":
        from vultus.gallery.index import ExactIndex

        idx = ExactIndex(dim=dim, capacity=n + 1000)
        return idx.add, lambda q, k: idx.search(q, k)[1], None, None, None
    m, efc = (32, 200) if backend.endswith("-m32") else (16, 100)
    backend = backend.removesuffix("-m32")
    if backend == "hnsw":
        from vultus.gallery.backends.hnswlib_index import HnswIndex

        idx = HnswIndex(dim=dim, threads=2, capacity=n + 2000, M=m, ef_construction=efc)
        return idx.add, lambda q, k: idx.search(q, k)[1], lambda ef: setattr(idx, "ef", ef), None, None
    if backend.startswith("usearch"):
        from vultus.gallery.backends.usearch_index import UsearchIndex

        idx = UsearchIndex(dim=dim, dtype=backend.split("-")[1], threads=2, M=m, ef_construction=efc)

        def set_ef(ef):
            idx._index.expansion_search = ef
        return idx.add, lambda q, k: idx.search(q, k)[1], set_ef, lambda: idx._index.memory_usage, None
    if backend == "faiss-hnsw":
        import faiss

        idx = faiss.IndexIDMap2(faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT))
        faiss.downcast_index(idx.index).hnsw.efConstruction = efc

        def add(ids, vecs):
            faiss.omp_set_num_threads(2)
            idx.add_with_ids(np.ascontiguousarray(vecs, np.float32), np.asarray(ids, np.int64))
            faiss.omp_set_num_threads(1)

        def set_ef(ef):
            faiss.downcast_index(idx.index).hnsw.efSearch = ef
        return add, lambda q, k: idx.search(q, k)[1], set_ef, None, None
    if backend == "milvus-lite":
        from vultus.gallery.backends.milvus_index import MilvusIndex

        tmp = tempfile.mkdtemp(prefix="ann-milvus-", dir=OUT)
        idx = MilvusIndex(dim=dim, uri=f"{tmp}/m.db", collection="bench")
        return idx.add, lambda q, k: idx.search(q, k)[1], lambda ef: setattr(idx, "ef", ef), None, \
            lambda: (idx.close(), __import__("shutil").rmtree(tmp, ignore_errors=True))
    raise SystemExit(f"unknown backend {backend}")


def anon_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def run_one(backend: str, n: int) -> dict:
    """Build, insert, query, compare with exact: one backend at one size (in its own process)."""
    from vultus.decide import Recognizer

    real = np.load(OUT / "real.npz")
    probes, probe_lab = real["probes"], real["probe_labels"]
    t_s, t_i = exact_truth(n, probes)
    gal_lab = labels(n)
    n_ids = len(np.unique(gal_lab))
    threshold = Recognizer.parse("sface").open_set_threshold(1e-3, n_ids)[0]
    truth_decision = np.where(t_s[:, 0] >= threshold, gal_lab[t_i[:, 0]], -1)

    extra = np.load(OUT / "synthetic.npy", mmap_mode="r")[MAX_N - 1000:]  # inserted after the build
    rss0 = anon_rss()
    add, search, set_ef, size_of, close = make(backend, DIM, n)
    t = time.perf_counter()
    for ids, vecs in chunks(n):
        add(ids, vecs)
    build = time.perf_counter() - t
    gc.collect()
    mem = anon_rss() - rss0
    if size_of is not None:
        mem = max(mem, int(size_of()))
    rows = []
    q_count = len(probes) if backend != "exact" or n <= 1_000_000 else 50
    if backend == "milvus-lite":  # about 0.4 s a query here: fewer probes, and ef means nothing to its index
        q_count, set_ef = 200, None
    for ef in (EFS if set_ef else [None]):
        if set_ef:
            set_ef(ef)
        search(probes[:5], 10)  # warm up
        lat, found = [], []
        for q in probes[:q_count]:
            t = time.perf_counter()
            ids = search(q[None], 10)
            lat.append((time.perf_counter() - t) * 1000)
            found.append(ids[0])
        found_ids = [np.asarray(f) for f in found]
        hit1 = np.array([len(f) > 0 and f[0] == t_i[k, 0] for k, f in enumerate(found_ids)])
        r1, r1_mated = hit1.mean(), hit1[probe_lab[:q_count] >= 0].mean()
        r10 = np.mean([len(set(f[:10].tolist()) & set(t_i[k].tolist())) / 10 for k, f in enumerate(found_ids)])
        # decision: top template's identity if its exact score clears the threshold (ANN scores are
        # re-read exactly by Gallery.search for fused recognizers; for one model they are the same)
        top = np.array([f[0] if len(f) else -1 for f in found_ids])
        all_vecs_score = np.array([float(probes[k] @ vec_of(top[k], n)) if top[k] >= 0 else -1
                                   for k in range(q_count)])
        decision = np.where(all_vecs_score >= threshold, gal_lab[np.maximum(top, 0)], -1)
        agree = float(np.mean(decision == truth_decision[:q_count]))
        lat.sort()
        rows.append({"backend": backend, "n": n, "ef": ef, "build_s": build,
                     "bytes_per_template": mem / n, "median_ms": statistics.median(lat),
                     "p99_ms": lat[int(0.99 * (len(lat) - 1))], "qps": 1000 / statistics.mean(lat),
                     "recall1": float(r1), "recall1_mated": float(r1_mated), "recall10": float(r10), "decision_agree": agree,
                     "queries": q_count, "identities": n_ids, "threshold": threshold,
                     "load": os.getloadavg()[0]})
    t = time.perf_counter()
    for j in range(0, 1000, 100):  # then 10 small commits, as enrollments arrive
        add(np.arange(n + j, n + j + 100) + MAX_N, np.asarray(extra[j:j + 100]))
    insert = (time.perf_counter() - t) / 1000
    for r in rows:
        r["insert_ms"] = insert * 1000
    if close:
        close()
    return rows


_VEC_CACHE: dict = {}


def vec_of(i: int, n: int) -> np.ndarray:
    real = _VEC_CACHE.setdefault("real", np.load(OUT / "real.npz")["gallery"])
    if i < len(real):
        return real[i]
    syn = _VEC_CACHE.setdefault("syn", np.load(OUT / "synthetic.npy", mmap_mode="r"))
    return np.asarray(syn[i - len(real)])


# -- report -----------------------------------------------------------------------------------------
def render() -> None:
    rows = [json.loads(x) for x in (OUT / "results.jsonl").read_text().splitlines() if x.strip()]
    latest: dict = {}
    for r in rows:
        latest[(r["backend"], r["n"], r["ef"])] = r
    rows = sorted(latest.values(), key=lambda r: (r["n"], BACKENDS.index(r["backend"]), r["ef"] or 0))
    fit = json.loads((OUT / "fit.json").read_text()) if (OUT / "fit.json").exists() else {}
    lines = []
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['backend']} | {r['ef'] or '-'} | {r['median_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{r['qps']:,.0f} | {r['recall1']:.4f} | {r.get('recall1_mated', float('nan')):.4f} | {r['recall10']:.4f} | {100 * r['decision_agree']:.2f} | "
                     f"{r['build_s']:.1f} | {r['insert_ms']:.3f} | {r['bytes_per_template']:.0f} | {r['load']:.1f} |")
    fit_rows = "\n".join(f"| {k} | {v['n']:,} | {v['same_mean']:.3f} ± {v['same_sd']:.3f} | {v['other_best_mean']:.3f} | "
                         f"{v['other_best_p99']:.3f} | {v['norm_of_mean']:.3f} |" for k, v in fit.items())
    plot(rows)
    done = {(r["backend"], r["n"]) for r in rows}
    missing = [f"{b} at {n:,}" for n in (10_000, 100_000, 1_000_000, MAX_N) for b in BACKENDS
               if (b, n) not in done and (n < MAX_N or b in ("exact", "hnsw-m32"))]
    missing_md = ("Not measured in this run (the machine was shared; rerun the commands above): "
                  + ", ".join(missing) + ".") if missing else ""
    md = f"""## Approximate search: exact NumPy, hnswlib, usearch, FAISS, Milvus Lite at 10k to 10M templates

Command: `nice -n 10 .venv/bin/python bench/ann.py --sizes 10000 100000 1000000 --backends all`, then
`--sizes 10000000 --backends exact,hnsw-m32` (each backend and size in its own process; `--render` rewrites
this section from the cached rows). Machine: {machine()}, shared with other jobs (load average per row).
Commit {git_rev()}, {time.strftime('%Y-%m-%d')}.

Vectors: 128-d `sface` embeddings of LFW (the real part of every gallery, and every probe), filled to
N with synthetic identities drawn from the LFW identities' distribution (centres from the covariance
of LFW identity means, templates from the pooled within-identity covariance, L2-normalized; see the
docstring of `bench/ann.py`). How well the synthetic vectors match, on galleries of equal size:

| vectors | templates | same-identity cosine | best other-identity cosine, mean | p99 | norm of the mean vector |
|---|---|---|---|---|---|
{fit_rows}

{QUERIES} real probes (half held-out images of enrolled people, half strangers), one at a time on one
thread; build with 2 threads. HNSW graphs: M=16 and efConstruction 100 (usearch 128), or with `-m32`
M=32 and efConstruction 200 (the registered `hnsw` default, searched at ef 256). Recall against
exact search; "decision" = the open-set decision (top template's identity if it clears the calibrated
`sface` threshold at FPIR 1e-3 for that many identities, else unknown) equal to exact search's.
Memory = growth of the process's anonymous memory over the build (usearch: its own count when larger).
Exact search at 10M is timed on 50 probes, Milvus Lite on 200 (one search costs it about 0.4 s). "recall@1 mated" counts only probes of enrolled people.

| templates | index | ef | median ms | p99 ms | queries/s | recall@1 | recall@1 mated | recall@10 | decision = exact, % | build s | insert ms/template | bytes/template | load |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(lines)}

{missing_md}

Timings here are only as good as the machine was quiet: the load average of each row is given, and
rows with a load well above 2 were measured niced on a machine shared with other jobs, so their
milliseconds and build times are pessimistic (recall and decisions are not affected). Rerun on a quiet
machine for speed figures.

![latency against gallery size](img/ann_latency.png)
"""
    write_section("ann", md)
    print(md)


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for b in BACKENDS:
        mine = [r for r in rows if r["backend"] == b and r["ef"] in (None, 256)]
        if mine:
            ax.plot(*zip(*sorted((r["n"], r["median_ms"]) for r in mine)), marker="o",
                    label=b + (" (ef 256)" if any(r["ef"] for r in mine) else ""))
    ax.set(xscale="log", yscale="log", xlabel="templates in the gallery", ylabel="median ms per query (1 thread)",
           title="Top-10 search latency against gallery size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    out = Path(__file__).resolve().parent.parent / "docs" / "img" / "ann_latency.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--backends", default="all")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        rows = run_one(a.one[0], int(a.one[1]))
        with open(OUT / "results.jsonl", "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        print(json.dumps(rows))
        return
    if a.render:
        render()
        return
    prepare()
    if not (OUT / "fit.json").exists():
        (OUT / "fit.json").write_text(json.dumps(fit_report()))
    backends = BACKENDS if a.backends == "all" else a.backends.split(",")
    for n in a.sizes:
        exact_truth(n, np.load(OUT / "real.npz")["probes"])
        for b in backends:
            print(f"{time.strftime('%H:%M:%S')} {b} at {n:,}", flush=True)
            p = subprocess.run([sys.executable, __file__, "--one", b, str(n)], env={**os.environ, "OMP_NUM_THREADS": "1"})
            if p.returncode:
                print(f"  {b} at {n:,} failed (exit {p.returncode})", flush=True)
    render()


if __name__ == "__main__":
    main()
