"""Recognition across ageing on all of FG-NET (82 people, ages 0-69): every shipped recognizer, and the
age adapter where it exists, by age at enrollment and enrollment-verification gap (the protocol of
`vultus eval ageing`, src/vultus/ageing/evaluate.py), plus the TAR-against-gap plot.

The adapter rows here use the adapter fitted on all 82 subjects, so they are *not* held-out figures;
the held-out ones are in the cross-validated section written by training/ageing/train.py.
Run: .venv/bin/python bench/ageing.py   (seconds once bench/results/cache holds FG-NET)
"""

from __future__ import annotations

import time

from _common import DATA, RESULTS, ROOT, git_rev, machine, write_section
from vultus.ageing.adapter import adapt_all, manifest
from vultus.ageing.data import read_fgnet
from vultus.ageing.evaluate import AGE_GROUPS, GAP_BINS, evaluate, plot_tar_vs_gap
from vultus.decide import Recognizer
from vultus.eval.batch import embed_files

RECOGNIZERS = ("sface", "dlib", "sface+dlib", "sface:flip", "dlib:flip", "sface+dlib:flip")


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def main() -> None:
    t0 = time.time()
    samples = read_fgnet(DATA / "fgnet")
    reports = []
    for flip in ("", ":flip"):
        emb = embed_files([s.path for s in samples], "yunet", "sface+dlib" + flip, 2, "largest", cache=RESULTS / "cache")
        reports += [evaluate(samples, emb, Recognizer.parse(r)) for r in RECOGNIZERS if r.endswith(flip) and (flip or ":" not in r)]
        if manifest() and not flip:
            adapted = adapt_all(emb)
            reports += [evaluate(samples, adapted, Recognizer.parse(r), f"{r}+age-adapter (fitted on all)")
                        for r in ("sface", "sface+dlib")]
    plot = plot_tar_vs_gap([r for r in reports if "flip" not in r.setting], ROOT / "docs" / "img" / "ageing_tar_vs_gap")
    gaps = [g for g, _, _ in GAP_BINS]
    lines = ["## Recognition across ageing (FG-NET, all 82 people)", "",
             f"Command: `.venv/bin/python bench/ageing.py` (the protocol of `vultus eval ageing --root "
             f"../shared/data/fgnet`). Machine: {machine()}; commit {git_rev()}; {time.time() - t0:.0f} s, embedding "
             "included when bench/results/cache lacks it. Genuine pairs: one person at two ages, the earlier image enrolled. Impostors: "
             "different people at most 2 years apart, enrolled in the same age group. EER / TAR at FAR 1e-2 per "
             "gap (years):", "",
             "| recognizer | enrolled | " + " | ".join(f"gap {g}: EER / TAR@1e-2" for g in gaps) + " | drift per year |",
             "|---|---|" + "---|" * (len(gaps) + 1)]
    for r in reports:
        for group, _, _ in (*AGE_GROUPS, ("all", 0, 0)):
            d = next(x for x in r.drift if x.group == group)
            cells = [r.cell(group, g) for g in gaps]
            lines.append(f"| {r.setting} | {group} | " + " | ".join(f"{pct(c.eer)} / {pct(c.tar_1e2)}" for c in cells)
                         + f" | {'—' if d.slope_per_year is None else f'{d.slope_per_year:+.4f}'} |")
    counts = reports[0]
    lines += ["", "Genuine pairs per cell (same for every row): " + "; ".join(
        f"{g}: " + ", ".join(str(counts.cell(g, b).genuine) for b in gaps) for g, _, _ in AGE_GROUPS) +
        ". Impostor pairs: " + ", ".join(f"{g} {counts.cell(g, 'all').impostor:,}" for g, _, _ in AGE_GROUPS) + ".",
        "", f"![TAR against gap]({plot.relative_to(ROOT / 'docs')})"]
    write_section("ageing", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
