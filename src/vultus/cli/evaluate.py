"""`vultus eval pairs`: the LFW 10-fold protocol on any LFW-format pairs file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..decide import Recognizer
from ..eval.batch import embed_files
from ..eval.pairs import plot_curves, read_pairs, score_pairs, ten_fold
from .common import DetectorOpt, JsonOpt, emit, err, progress, table

app = typer.Typer(no_args_is_help=True, help="Evaluate recognizers on your own data or on benchmarks.")


@app.command("pairs")
def pairs_cmd(pairs: Path = typer.Option(..., "--pairs", help="Pairs file in LFW format (e.g. pairs.txt)."),
              root: Path = typer.Option(..., "--root", help="Folder with NAME/NAME_0001.jpg images."),
              recognizers: list[str] = typer.Option(["sface"], "--recognizer", "-r",
                                                    help="Recognizers to compare; repeat the option."),
              detector: str = DetectorOpt,
              pick: str = typer.Option("largest", "--pick", help="Which face of an image: largest or center."),
              workers: int = typer.Option(1, "--workers", "-j", help="Processes for embedding."),
              cache: Optional[Path] = typer.Option(None, "--cache", help="Folder to keep embeddings in and reuse."),
              plot: Optional[Path] = typer.Option(None, "--plot", help="Write ROC and DET curves: PLOT_roc.png ..."),
              json_out: bool = JsonOpt) -> None:
    """10-fold verification accuracy (threshold and fusion learned on 9 folds), AUC, TAR@FAR 1e-3, EER."""
    if pick not in ("largest", "center"):
        raise typer.BadParameter("--pick must be 'largest' or 'center'")
    recs = [Recognizer.parse(r) for r in recognizers]
    plist = read_pairs(pairs, root)
    images = sorted({p.a for p in plist} | {p.b for p in plist})
    missing = [p for p in images if not p.exists()]
    if missing:
        err.print(f"[yellow]warning:[/] {len(missing)} images named in {pairs} are missing under {root}, "
                  f"e.g. {missing[0]}; their pairs count as errors")
    reports = []
    for flip in sorted({r.flip for r in recs}):
        group = [r for r in recs if r.flip == flip]
        models = list(dict.fromkeys(m for r in group for m in r.models))
        union = Recognizer(tuple(models), flip)
        with progress(len(images), f"embed {union.key}") as tick:
            emb = embed_files(images, detector, union.key, workers, pick, tick, cache)
        scores = score_pairs(plist, emb, models)
        reports += [ten_fold(scores, r) for r in group]
    for r in reports:
        if json_out:
            emit({"pairs_file": str(pairs), "detector": detector, **r.to_dict()})
    if not json_out:
        table(f"{pairs} ({len(plist)} pairs, detector {detector})",
              ["recognizer", "accuracy", "± std", "AUC", "TAR@FAR1e-3", "EER", "no face"],
              [[r.recognizer, f"{r.accuracy_mean:.2%}", f"{r.accuracy_std:.2%}", f"{r.auc:.4f}",
                f"{r.tar_at_far_1e3:.2%}", f"{r.eer:.2%}", r.missing_faces] for r in reports])
    if plot:
        for p in plot_curves(reports, plot):
            err.print(f"wrote {p}")


@app.command("ageing")
def ageing_cmd(root: Optional[Path] = typer.Option(None, "--root", help="FG-NET folder (images/SSSAyy.JPG), or the "
                                                   "folder that --csv's relative file names start from."),
               csv_file: Optional[Path] = typer.Option(None, "--csv", help="Your own dated images: a CSV with columns "
                                                       "file, person, and age (years) or date (YYYY-MM-DD); "
                                                       "an optional birth column turns dates into ages."),
               recognizers: list[str] = typer.Option(["sface"], "--recognizer", "-r",
                                                     help="Recognizers to compare; repeat the option."),
               detector: str = DetectorOpt,
               workers: int = typer.Option(1, "--workers", "-j", help="Processes for embedding."),
               cache: Optional[Path] = typer.Option(None, "--cache", help="Folder to keep embeddings in and reuse."),
               plot: Optional[Path] = typer.Option(None, "--plot", help="Write the TAR-against-gap plot to PLOT.png."),
               adapter: bool = typer.Option(False, "--adapter", help="Also score each recognizer with the age "
                                            "adapter (docs/models/age_adapter.md) and show both."),
               json_out: bool = JsonOpt) -> None:
    """Verification across ageing: EER and TAR at FAR 1e-2 / 1e-3 by enrollment-verification gap and by
    age at enrollment, against impostors of similar age, and the drift of genuine scores with the gap."""
    from ..ageing.adapter import adapt_all
    from ..ageing.data import load_samples
    from ..ageing.evaluate import evaluate, plot_tar_vs_gap

    if root is None and csv_file is None:
        raise typer.BadParameter("give --root (an FG-NET folder) or --csv (your own dated images)")
    samples = load_samples(root, csv_file)
    recs = [Recognizer.parse(r) for r in recognizers]
    missing = [s.path for s in samples if not s.path.is_file()]
    if missing:
        err.print(f"[yellow]warning:[/] {len(missing)} listed images are missing, e.g. {missing[0]}; they count as no face")
    paths = [s.path for s in samples]
    reports = []
    for flip in sorted({r.flip for r in recs}):
        group = [r for r in recs if r.flip == flip]
        union = Recognizer(tuple(dict.fromkeys(m for r in group for m in r.models)), flip)
        with progress(len(paths), f"embed {union.key}") as tick:
            emb = embed_files(paths, detector, union.key, workers, "largest", tick, cache)
        reports += [evaluate(samples, emb, r) for r in group]
        if adapter:
            adapted = adapt_all(emb)
            reports += [evaluate(samples, adapted, r, f"{r.key}+age-adapter") for r in group]
    for r in reports:
        if json_out:
            emit({"root": str(root) if root else None, "csv": str(csv_file) if csv_file else None,
                  "detector": detector, **r.to_dict()})
        else:
            pct = lambda v: "—" if v is None else f"{v:.2%}"  # noqa: E731
            table(f"{r.setting}: {r.images} images of {r.people} people ({r.no_face} without a face)",
                  ["enrolled at", "gap (years)", "genuine", "impostor", "EER", "TAR@FAR1e-2", "TAR@FAR1e-3",
                   "mean genuine"],
                  [[c.group, c.gap, c.genuine, c.impostor, pct(c.eer), pct(c.tar_1e2), pct(c.tar_1e3),
                    "—" if c.mean_genuine is None else f"{c.mean_genuine:.3f}"] for c in r.cells])
            for d in r.drift:
                if d.slope_per_year is not None:
                    err.print(f"{r.setting}, enrolled {d.group}: genuine score {d.score_at_gap0:.3f} at gap 0, "
                              f"{d.slope_per_year:+.4f} per year of gap ({d.genuine} pairs)")
    if plot:
        err.print(f"wrote {plot_tar_vs_gap(reports, plot)}")
