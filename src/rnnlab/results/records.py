"""A run's record: its row in the results store and its folder on disk, from the moment a run
starts (or a checkpoint continues one) to how it ended when the training loop could not say.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig, flatten, to_toml
from rnnlab.data.paths import default_runs_dir
from rnnlab.errors import CheckpointError, RnnlabError
from rnnlab.results.atomic import atomic_write_text
from rnnlab.results.owner import owner_gone, this_process
from rnnlab.results.store import DB_NAME, ResultsStore
from rnnlab.training.runtime import versions


@dataclass
class RunRecord:
    """Where a run is recorded: its store row and its folder."""

    store: ResultsStore
    run_id: int
    run_dir: Path
    continued: bool  # a checkpoint's own run going on in place, not a new run


def slug(text: str) -> str:
    """A name as a folder name: letters, digits, '-' and '_' only."""
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in text)
    return keep.strip("-") or "run"


def runs_folder_for(runs_dir: str | Path | None, resume: str | Path | None) -> Path:
    """--runs-dir, else (resuming) the store beside the checkpoint's run folder, else the
    default: a resumed run goes on in the store it started in."""
    if runs_dir:
        return Path(runs_dir)
    if resume is not None:
        beside = Path(resume).resolve().parent.parent
        if (beside / DB_NAME).is_file():
            return beside
    return default_runs_dir()


def open_record(
    store: ResultsStore,
    cfg: RunConfig,
    *,
    state: dict[str, Any] | None,
    checkpoint: Path | None,
    device: str,
    precision: str,
    data_dir: Path,
    group: str | None,
) -> RunRecord:
    """The run's store row: the checkpoint's own run when it goes on in place (see
    `continued_run`), else a new row. Its folder is only named here; `prepare_folder`
    makes it, once failures are recorded against the row."""
    continued = (
        continued_run(store, state, checkpoint)
        if state is not None and checkpoint is not None
        else None
    )
    if continued is not None:
        run_id, run_dir = continued
        store.update_run(run_id, seed=cfg.seed)
        return RunRecord(store, run_id, run_dir, continued=True)
    run_id = store.create_run(
        name=cfg.name or cfg.task,
        task=cfg.task,
        seed=cfg.seed,
        device=device,
        precision=precision,
        config=cfg.to_dict(),
        versions=versions(),
        data_dir=str(Path(data_dir).resolve()),  # meaningful from any working directory
        group_name=group,
        owner=this_process(),
    )
    run_dir = store.runs_dir / f"{slug(cfg.name or cfg.task)}-{run_id:04d}"
    return RunRecord(store, run_id, run_dir, continued=False)


def prepare_folder(
    record: RunRecord,
    cfg: RunConfig,
    *,
    state: dict[str, Any] | None,
    checkpoint: Path | None,
    changes: list[str],
    total: int,
) -> None:
    """Claim a new run's folder, store the config the run trains with (config.toml too), and
    for a resume that trains on, when and from where it resumed and what it changed: the
    stored config is the latest, so what it was before is kept there. A new run started
    from a checkpoint takes its metrics so far."""
    if not record.continued:
        record.run_dir = claim_run_folder(record.run_dir)
    record.store.update_run(record.run_id, run_dir=str(record.run_dir), config=cfg.to_dict())
    if state is not None and not record.continued:
        # a new run from another run's state: the curve that led there is this run's too,
        # as in its checkpoints and result.json, so a report draws it whole
        for row in state.get("history") or []:
            metrics = {k: v for k, v in row.items() if k not in ("iteration", "wall_time")}
            wall = float(row.get("wall_time") or 0.0)
            record.store.log_metrics(record.run_id, int(row["iteration"]), metrics, wall)
    if state is not None and checkpoint is not None and int(state["iteration"]) < total:
        record.store.add_resume(
            record.run_id,
            {
                "iteration": int(state["iteration"]),
                "checkpoint": str(checkpoint.resolve()),
                "changes": changes,
            },
        )
    atomic_write_text(record.run_dir / "config.toml", to_toml(cfg))


def mark_unfinished(store: ResultsStore, run_id: int, exc: BaseException) -> None:
    """The training loop records its own endings (interrupted, diverged); an error or Ctrl-C
    anywhere else would leave the run 'running' in the store for ever. A store that fails
    now (the disk that just filled up) must not hide the error that ended the run."""
    with contextlib.suppress(RnnlabError, sqlite3.Error):
        row = store.get_run(run_id)
        if row is None or row["status"] != "running":
            return
        if isinstance(exc, KeyboardInterrupt):
            store.update_run(run_id, status="interrupted", message="interrupted by the user")
        elif isinstance(exc, BrokenPipeError):  # `rnnlab train ... | head`: resumable, not broken
            store.update_run(
                run_id,
                status="interrupted",
                message="stopped when the reader of its output closed the pipe",
            )
        else:
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            store.update_run(run_id, status="failed", message=text)


def continued_run(
    store: ResultsStore, state: dict[str, Any], checkpoint: Path
) -> tuple[int, Path] | None:
    """(run id, folder) when `checkpoint` is the newest checkpoint of a run in `store`: its
    own last.pt, in its folder, at (or past) the iteration the store records. That run then
    goes on in place. Any other checkpoint (best.pt, even with last.pt gone; an older last.pt
    put back; a --save copy; one from another store) starts a new run from its state: going
    on in place would rewind and overwrite the recorded metrics and wall time."""
    row = _own_last_checkpoint(store, state, checkpoint)
    # past it only when the process died between saving last.pt and recording it
    if row is None or int(state["iteration"]) < int(row.get("iteration") or 0):
        return None
    return int(row["id"]), checkpoint.resolve().parent


def _own_last_checkpoint(
    store: ResultsStore, state: dict[str, Any], checkpoint: Path
) -> dict[str, Any] | None:
    """The store row of the run whose own last.pt `checkpoint` is, else None. The folder is
    taken beside the store (the runs folder holds both), so a run folder recorded relative to
    another working directory, or a runs folder moved as a whole, is still recognised."""
    row = store.get_run(int(state["run_id"])) if state.get("run_id") else None
    if row is None or not row.get("run_dir"):
        return None
    last = store.runs_dir / Path(row["run_dir"]).name / "last.pt"
    return row if checkpoint.resolve() == last.resolve() else None


def refuse_live_run(store: ResultsStore, state: dict[str, Any], checkpoint: Path) -> None:
    """Resuming a run's last.pt while a live process of this machine still trains that run
    would have two processes write one run folder and store row: refuse it. A process that
    has ended (killed, crashed) leaves the run resumable; one on another machine cannot be
    judged from here."""
    row = _own_last_checkpoint(store, state, checkpoint)
    if row is None or row["status"] != "running" or not row.get("owner"):
        return
    host = row["owner"].rpartition(":")[0]
    if host != this_process().rpartition(":")[0] or owner_gone(row["owner"]):
        return
    raise CheckpointError(
        f"run {row['id']} ({row['name']}) is still training in process {row['owner']}; "
        f"wait for it to finish, or stop it with Ctrl-C (it saves {checkpoint.name}), then "
        "resume it"
    )


def claim_run_folder(folder: Path) -> Path:
    """`folder`, or `folder`-2, -3, ... when it exists: a store moved aside (or deleted)
    starts its ids at 1 again, and the old run 1's folder must not be written over. mkdir
    claims a name atomically, so parallel processes never pick the same one."""
    for n in itertools.count(1):
        candidate = folder if n == 1 else folder.with_name(f"{folder.name}-{n}")
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        except OSError as exc:
            raise RnnlabError(
                f"cannot create the run folder {candidate} ({exc.strerror}); choose a writable "
                "folder with --runs-dir"
            ) from None
        return candidate
    raise AssertionError("unreachable")  # itertools.count never ends


def changed_fields(before: RunConfig, after: RunConfig) -> list[str]:
    """'train.iters 20 -> 40' for every field an override changed on resume."""
    old, new = flatten(before.to_dict()), flatten(after.to_dict())
    changes = [f"{k} {old.get(k)} -> {v}" for k, v in new.items() if old.get(k) != v]
    length = ("train.iters", "train.epochs")
    if after.train.schedule == "cosine" and any(old.get(k) != new.get(k) for k in length):
        changes.append("the cosine schedule now spans the new length (not a straight run's)")
    return changes
