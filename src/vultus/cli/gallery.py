"""`vultus enroll`, `vultus identify` and `vultus gallery list|show|remove|rename|audit`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import draw
from ..errors import VultusError
from ..liveness import LivenessError
from ..gallery import Gallery
from ..io import iter_image_paths
from ..quality import QualityPolicy
from .common import FarOpt, ImageBatch, JsonOpt, emit, err, expand, fail, out, progress, stdout_is_ours, table
from .faces import AnnotateOpt
from .liveness import LivenessOpt, SessionOpt, liveness_options, print_report

GalleryOpt = typer.Option(..., "--gallery", "-g", help="Gallery file (SQLite); created on first enroll.")

group = typer.Typer(no_args_is_help=True, help="List, inspect, rename and delete gallery identities.")


IndexOpt = typer.Option("auto", "--index", help="Search backend: auto, exact, hnsw, usearch, milvus (Milvus Lite "
                        "beside the gallery) or milvus://HOST:PORT (a Milvus server).")


def _open(path: Path, must_exist: bool = True, recognizer: str | None = None, index: str = "auto") -> Gallery:
    if must_exist and not path.exists():
        fail(f"{path}: no such gallery (enroll someone first)")
    return Gallery(path, recognizer=recognizer, index=index)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="gallery")

    @app.command()
    def enroll(name: Optional[str] = typer.Argument(None, help="The person's name."),
               images: Optional[list[Path]] = typer.Argument(None, help="Images (or folders) of that person."),
               gallery: Path = GalleryOpt,
               from_dir: Optional[Path] = typer.Option(None, "--from-dir",
                                                       help="A folder with one sub-folder of images per person."),
               recognizer: Optional[str] = typer.Option(None, "--recognizer", "-r",
                                                        help="Recognizer of a new gallery (default sface)."),
               force: bool = typer.Option(False, "--force", help="Enroll faces that fail the quality checks."),
               index: str = IndexOpt,
               ray: Optional[str] = typer.Option(None, "--ray", help="Spread decoding, detection and embedding over "
                                                 "a Ray cluster at this address (`local` starts one here)."),
               liveness: bool = LivenessOpt, session: Optional[Path] = SessionOpt,
               json_out: bool = JsonOpt) -> None:
        """Add people to a gallery: NAME IMAGE... or --from-dir DIR (one transaction per person).

        Running the same enrollment again resumes it: images already enrolled for that person are
        skipped and reported, nothing is added twice. With --liveness, every face must be live (and
        the --session camera genuine), else nothing of that person is enrolled and the exit code is 1."""
        check, session_data = liveness_options(liveness, session)
        if ray is not None and check is not None:
            raise typer.BadParameter("--ray does not run liveness checks; enroll without --ray", param_hint="--liveness")
        if from_dir:
            if name or images:
                raise typer.BadParameter("give NAME IMAGE... or --from-dir, not both")
            if not from_dir.is_dir():
                fail(f"{from_dir}: not a folder")
            people = [(d.name, iter_image_paths([d])) for d in sorted(from_dir.iterdir()) if d.is_dir()]
            if not people:
                fail(f"{from_dir}: no sub-folders (expected one folder of images per person)")
        else:
            if not name or not images:
                raise typer.BadParameter("give NAME and at least one IMAGE, or --from-dir DIR")
            people = [(name, expand(images))]
        policy = None if force else QualityPolicy()
        g = _open(gallery, must_exist=False, recognizer=recognizer, index=index)
        if ray is not None:
            from ..gallery.distributed import enroll_distributed

            with stdout_is_ours(), progress(sum(len(p) for _, p in people), f"enroll on Ray ({ray})") as tick:
                done = enroll_distributed(g, people, ray, policy, tick)
            g.close()
            for person, (faces, skipped) in done.items():
                if json_out:
                    emit({"name": person, "faces": faces,
                          "skipped": [{"input": s, "reason": r} for s, r in skipped]})
                else:
                    out.print(f"enrolled [bold]{person}[/]: {faces} face(s)")
                for src, why in skipped:
                    err.print(f"[yellow]skipped[/] {src}: {why}", soft_wrap=True)
            empty = [p for p, (faces, _) in done.items() if not faces]
            if empty:
                fail(f"nothing enrolled for {', '.join(map(repr, empty))}")
            return
        failed = 0
        with progress(len(people), "enroll") as tick:
            for person, paths in people:
                try:
                    r = g.enroll(person, paths, policy=policy, names=[str(p) for p in paths], liveness=check,
                                 session=session_data)
                except VultusError as e:
                    failed += 1
                    if json_out:
                        emit({"name": person, "error": str(e), "kind": e.kind,
                              **({"liveness": e.report.to_dict()} if isinstance(e, LivenessError) else {})})
                    err.print(f"[red]error:[/] {e}", soft_wrap=True)
                    continue
                finally:
                    tick()
                print_report(r.liveness)
                if json_out:
                    emit(r.to_dict())
                else:
                    again = f" ({r.already_enrolled} already enrolled)" if r.already_enrolled else ""
                    out.print(f"enrolled [bold]{r.name}[/]: {r.added} face(s){again}")
                for src, why in r.skipped:
                    err.print(f"[yellow]skipped[/] {src}: {why}", soft_wrap=True)
        g.close()
        if failed:
            raise typer.Exit(1)

    @app.command()
    def identify(images: list[Path] = typer.Argument(..., help="Image files or folders."),
                 gallery: Path = GalleryOpt, far: float = FarOpt,
                 top_k: int = typer.Option(3, "--top-k", help="Candidates reported per face."),
                 liveness: bool = LivenessOpt, session: Optional[Path] = SessionOpt,
                 annotate: Optional[Path] = AnnotateOpt, index: str = IndexOpt,
                 ray: Optional[str] = typer.Option(None, "--ray", help="Spread the work over a Ray cluster at this "
                                                   "address (`local` starts one here); needs --json."),
                 json_out: bool = JsonOpt) -> None:
        """Who is each face? A name from the gallery, or unknown.

        With --liveness, an image with a face that is not live is refused (reported, exit 1)
        instead of identified."""
        check, session_data = liveness_options(liveness, session)
        g = _open(gallery, index=index)
        if ray is not None:
            from ..gallery.distributed import identify_distributed

            if not json_out or annotate or check is not None:
                raise typer.BadParameter("--ray writes JSON lines: add --json (and no --annotate or --liveness)")
            paths = expand(images)
            failed = 0
            with stdout_is_ours(), progress(len(paths), f"identify on Ray ({ray})") as tick:
                for row in identify_distributed(g, paths, ray, far, top_k, tick):
                    failed += "error" in row
                    emit(row)
            g.close()
            if failed:
                raise typer.Exit(1)
            return
        rows = []
        batch = ImageBatch(images, "identify", json_out)
        refused = 0
        for p, img in batch:
            try:
                results = g.identify(img, far, top_k, name=str(p), liveness=check, session=session_data)
            except LivenessError as e:
                refused += 1
                if json_out:
                    emit({"input": str(p), "error": str(e), "kind": e.kind, "liveness": e.report.to_dict()})
                err.print(f"[red]refused:[/] {e}", soft_wrap=True)
                continue
            if annotate:
                labels = [f"{r.identity or 'unknown'} {r.score:.2f}" for r in results]
                colors = [draw.KNOWN if r.known else draw.UNKNOWN for r in results]
                draw.save(draw.annotate(img, [r.face for r in results], labels, colors),
                          annotate / f"{p.stem}.jpg")
            for i, r in enumerate(results):
                if json_out:
                    emit({"input": str(p), "face": i, **r.to_dict()})
                else:
                    rows.append([p.name, i, r.identity or "[dim]unknown[/]", f"{r.score:.3f}",
                                 f"{r.threshold:.3f}",
                                 ", ".join(f"{c.identity} {c.score:.2f}" for c in r.candidates)])
            if not results and not json_out:
                rows.append([p.name, "-", "no face", "", "", ""])
        g.close()
        if not json_out:
            table(f"identify (recognizer {g.recognizer.key}, FAR {far:g})",
                  ["image", "#", "identity", "score", "threshold", "candidates"], rows)
        if refused:
            raise typer.Exit(1)
        batch.exit_code()

    @group.command("list")
    def list_cmd(gallery: Path = GalleryOpt, json_out: bool = JsonOpt) -> None:
        """Every identity with its number of faces."""
        g = _open(gallery)
        infos = g.identities()
        if json_out:
            for i in infos:
                emit(i.to_dict())
        else:
            table(f"{gallery} ({g.recognizer.key})", ["name", "faces"], [[i.name, i.faces] for i in infos])
        g.close()

    @group.command("show")
    def show(name: str, gallery: Path = GalleryOpt, json_out: bool = JsonOpt) -> None:
        """One identity's faces with their provenance (source, hash, box, quality)."""
        g = _open(gallery)
        faces = g.store.faces_of(name)
        if json_out:
            for f in faces:
                emit({"name": name, **f})
        else:
            table(name, ["face id", "source", "sha256", "box", "eye dist"],
                  [[f["face_id"], f["source"] or "-", (f["source_sha256"] or "-")[:12], f["box"],
                    f"{(f['quality'] or {}).get('face_size', 0):.0f}"] for f in faces])
        g.close()

    @group.command("remove")
    def remove(names: list[str] = typer.Argument(..., help="Identities to delete for good."),
               gallery: Path = GalleryOpt, json_out: bool = JsonOpt) -> None:
        """Delete identities with all their templates and thumbnails."""
        g = _open(gallery)
        for n in names:
            k = g.remove(n)
            emit({"name": n, "removed_faces": k}) if json_out else out.print(f"removed {n} ({k} faces)")
        g.close()

    @group.command("rename")
    def rename(old: str, new: str, gallery: Path = GalleryOpt, json_out: bool = JsonOpt) -> None:
        """Rename an identity."""
        g = _open(gallery)
        g.rename(old, new)
        emit({"name": new, "renamed_from": old}) if json_out else out.print(f"renamed {old} -> {new}")
        g.close()

    @group.command("audit")
    def audit(gallery: Path = GalleryOpt, limit: int = typer.Option(50, "--limit"),
              verify: bool = typer.Option(False, "--verify", help="Check the hash chain of the whole log."),
              expect: Optional[str] = typer.Option(None, "--expect", help="With --verify: a head (ID:HASH) printed "
                                                   "by an earlier --verify, which must still be in the chain."),
              retention_days: Optional[float] = typer.Option(None, "--retention-days", help="Keep records this many "
                                                             "days (0: forever; default 365) and prune now."),
              json_out: bool = JsonOpt) -> None:
        """The append-only, hash-chained log of enroll, rename and delete (and, from the service, identify) calls."""
        g = _open(gallery)
        store = g.store
        if retention_days is not None:
            if retention_days < 0:
                raise typer.BadParameter("give 0 (keep forever) or a positive number of days",
                                         param_hint="--retention-days")
            store.set_meta("audit_retention_days", str(retention_days))
            pruned = store.prune_audit(retention_days)
            emit({"retention_days": retention_days, "pruned": pruned}) if json_out else \
                out.print(f"audit retention {retention_days:g} days; {pruned} older record(s) pruned")
        if verify:
            check = store.verify_audit(expect)
            g.close()
            if json_out:
                emit(check.to_dict())
            elif check.ok:
                out.print(f"audit log intact: {check.records} record(s); head {check.head} "
                          "(keep it elsewhere and pass it to --expect later)")
            if not check.ok:
                fail(f"audit log of {gallery} fails verification: {check.problem}")
            return
        if retention_days is not None:
            g.close()
            return
        log = store.audit_log(limit)
        if json_out:
            for e in log:
                emit(e)
        else:
            import time

            table("audit", ["time", "actor", "action", "identity", "detail"],
                  [[time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"])), e["actor"], e["action"],
                    e["identity"] or "-", e["detail"]] for e in log])
        g.close()

    @group.command("remove-face")
    def remove_face(face_ids: list[int] = typer.Argument(..., help="Face ids (see `vultus gallery show NAME`)."),
                    gallery: Path = GalleryOpt, json_out: bool = JsonOpt) -> None:
        """Delete single faces (e.g. a template reported as damaged)."""
        g = _open(gallery)
        for f in face_ids:
            g.remove_face(f)
            emit({"face_id": f, "removed": True}) if json_out else out.print(f"removed face {f}")
        g.close()

    @group.command("stats")
    def stats_cmd(gallery: Path = GalleryOpt, index: str = IndexOpt, json_out: bool = JsonOpt) -> None:
        """Identities, templates, index, change log, audit log and bytes on disk."""
        from ..gallery.bulk import stats

        g = _open(gallery, index=index)
        s = stats(g)
        g.close()
        if json_out:
            emit(s)
        else:
            table(f"{gallery}", ["what", "value"], [[k, v] for k, v in s.items()])

    @group.command("export")
    def export(file: Path = typer.Argument(..., help="Parquet file to write."), gallery: Path = GalleryOpt,
               json_out: bool = JsonOpt) -> None:
        """Write every face's templates (with name, source hash, box, quality) to Parquet."""
        from ..gallery.bulk import export_parquet

        g = _open(gallery)
        with progress(g.templates(), "export") as tick:
            n = export_parquet(g, file, tick)
        g.close()
        emit({"exported": n, "file": str(file)}) if json_out else out.print(f"exported {n} face(s) to {file}")

    @group.command("import")
    def import_cmd(file: Path = typer.Argument(..., help="Parquet file written by `vultus gallery export`."),
                   gallery: Path = GalleryOpt, index: str = IndexOpt, json_out: bool = JsonOpt) -> None:
        """Add the faces of a Parquet file; rows already in the gallery are skipped (a rerun resumes)."""
        from ..gallery.bulk import import_parquet

        if not file.is_file():
            fail(f"{file}: no such file")
        g = _open(gallery, must_exist=False, index=index)
        r = import_parquet(g, file)
        g.close()
        emit(r) if json_out else out.print(f"imported {r['added']} face(s), {r['skipped']} already there")

    @group.command("compact")
    def compact_cmd(gallery: Path = GalleryOpt, index: str = IndexOpt, json_out: bool = JsonOpt) -> None:
        """Rebuild the search index without deleted entries, trim the change log, VACUUM the database."""
        from ..gallery.bulk import compact

        g = _open(gallery, index=index)
        r = compact(g)
        g.close()
        emit(r) if json_out else out.print(f"compacted: {r['bytes_before']:,} -> {r['bytes_after']:,} bytes")
