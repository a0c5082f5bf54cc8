"""The Python API: everything the command line does, as plain functions.

>>> import rnnlab
>>> result = rnnlab.train("seed-c", data_dir="../shared/data", overrides={"train.iters": 500})
>>> rnnlab.evaluate(result.checkpoint)["test_acc"]
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.arguments import check_arguments, check_required, check_source
from rnnlab.config import (
    MAX_INT,
    RunConfig,
    apply_overrides,
    check_overrides,
    from_dict,
    load_config_file,
    load_preset,
    names_a_file,
    override_items,
    override_text,
    preset_names,
)
from rnnlab.data.paths import default_runs_dir, resolve_data_dir
from rnnlab.errors import CheckpointError, ConfigError, RnnlabError
from rnnlab.results import records
from rnnlab.results.store import DB_NAME, STATUSES, ResultsStore, check_runs_folder
from rnnlab.tasks import get_task_class
from rnnlab.tasks.base import Task
from rnnlab.tasks.sizing import (
    build_model_without_data,
    config_mismatch,
    count_parameters,
    is_checkpoint_file,
    tensor_listing,
)
from rnnlab.training import checkpoint as ckpt
from rnnlab.training.allocator import tune_cpu_allocator
from rnnlab.training.crowding import CpuWatch, crowding_note
from rnnlab.training.runtime import (
    autocast,
    cpu_bf16_fast,
    resolve_device,
    resolve_precision,
    seed_everything,
    set_threads,
)
from rnnlab.training.trainer import EvalHook, RunResult, Trainer, total_iterations


def make_config(
    source: RunConfig | str | Path | dict | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
) -> RunConfig:
    """A validated RunConfig from a preset name, a TOML path, a dict or a RunConfig, with
    `overrides` applied; a field given twice, or both train.iters and train.epochs, is
    refused as `train` refuses it."""
    check_source(source)
    check_arguments(overrides=overrides)
    check_overrides(override_items(overrides))
    if source is None:
        cfg = from_dict({})
    elif isinstance(source, RunConfig):
        cfg = source.copy()
    elif isinstance(source, dict):
        cfg = from_dict(source)
    elif isinstance(source, Path):  # a Path is always a file, whatever its name
        cfg = load_config_file(source)
    elif source in preset_names():  # before files: a file or folder "gru" here hides no preset
        cfg = load_preset(source)
    elif names_a_file(source):
        cfg = load_config_file(source)
    elif Path(source).is_dir():
        raise ConfigError(f"{source} is a folder; give a preset name or a config .toml file")
    else:
        cfg = load_preset(source)  # not one: the error lists the presets
    if overrides:
        apply_overrides(cfg, overrides)
    return cfg


def train(
    config: RunConfig | str | Path | dict | None = None,
    *,
    overrides: dict[str, Any] | list[str] | None = None,
    data_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    resume: str | Path | None = None,
    save: str | Path | None = None,
    verbose: bool = True,
    group: str | None = None,
    on_evaluate: EvalHook | None = None,
    device: str | None = None,
) -> RunResult:
    """Train one run and record it. With `resume`, continue a checkpoint exactly where it
    stopped (the config comes from the checkpoint; `overrides` may still change it, e.g. to
    train for more iterations). `group` files the run under a comparison or sweep in the
    results store; `on_evaluate(iteration, metrics)` is called after every evaluation and
    ends the run early (status "stopped") when it returns true. `device` ("cuda", ...) is
    the config's device field, as in overrides, named like the other functions' argument."""
    check_source(config)
    check_arguments(
        overrides=overrides, data_dir=data_dir, runs_dir=runs_dir, resume=resume, save=save,
        verbose=verbose, group=group, device=device,
    )  # fmt: skip
    if device is not None:
        items = [*override_items(overrides), ("device", device)]
        overrides = [override_text(k, v) for k, v in items]  # a value as given, quotes and all
    if on_evaluate is not None and not callable(on_evaluate):
        raise ConfigError(
            f"on_evaluate must be a function (iteration, metrics) -> bool, got {on_evaluate!r}"
        )
    if resume is not None and config is not None:  # one of the two would be ignored
        raise ConfigError(
            "resume takes the config from the checkpoint; drop the config (--preset/--config) "
            "and change fields with overrides (--set) instead"
        )
    check_overrides(override_items(overrides))
    if save is not None:  # found out now, not after the training
        ckpt.check_save_target(save)
    cfg, state, changes = _config_and_state(config, overrides, resume)

    data_path = resolve_data_dir(data_dir)
    runs_path = records.runs_folder_for(runs_dir, resume)
    check_runs_folder(runs_path)
    if state is not None and (runs_path / DB_NAME).exists():  # before the data is read
        records.refuse_live_run(ResultsStore(runs_path, readonly=True), state, Path(resume))
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        tune_cpu_allocator()
    set_threads(cfg.threads)
    precision = resolve_precision(cfg, device)
    seed_everything(cfg.seed)

    watch = CpuWatch()  # reading the data is the window in which other work is measured
    task = get_task_class(cfg.task)(
        cfg, data_path, device, state.get("task_state") if state else None
    )
    model = task.build_model().to(device)
    total = total_iterations(task, cfg)
    if total > MAX_INT:  # the store records it as a 64-bit integer: refuse before the run
        raise ConfigError(
            f"the run would be {total:.3g} iterations, more than the results store holds; "
            "lower train.epochs or train.iters"
        )
    if state is not None:  # check before anything is written: a mismatch leaves no trace
        ckpt.load_model_state(model, state["model"], str(resume))
        if total < int(state["iteration"]):
            raise ConfigError(
                f"{resume} is at iteration {state['iteration']}, past the {total} asked for; "
                "give --iters (or --epochs) beyond it to train on"
            )

    store = ResultsStore(runs_path)  # made only now: a refused run leaves nothing behind
    checkpoint = Path(resume) if resume is not None else None
    record = records.open_record(
        store, cfg, state=state, checkpoint=checkpoint, device=str(device),
        precision=precision, data_dir=data_path, group=group,
    )  # fmt: skip
    try:  # from here on the run is in the store: record how it ended, whatever ends it
        records.prepare_folder(
            record, cfg, state=state, checkpoint=checkpoint, changes=changes, total=total
        )
        trainer = Trainer(
            task,
            model,
            cfg,
            device=device,
            precision=precision,
            store=store,
            run_id=record.run_id,
            run_dir=record.run_dir,
            resume_state=state,
            resumed_from=checkpoint,
            verbose=verbose,
            on_evaluate=on_evaluate,
        )
        nothing_left = state is not None and trainer.iteration >= trainer.total
        if verbose:
            _announce(record, trainer, resume, changes, watch, nothing_left=nothing_left)
        result = trainer.fit()
    except BaseException as exc:
        records.mark_unfinished(store, record.run_id, exc)
        raise
    if save is not None:
        ckpt.save_checkpoint(save, ckpt.load_checkpoint(result.checkpoint))
        result.extra["saved"] = str(save)
    if verbose and nothing_left:
        print(f"Checkpoint: {save or result.checkpoint}", flush=True)
    elif verbose:
        print(
            f"Done in {result.wall_time:.1f} s ({task.format_speed(result.samples_per_sec)}). "
            f"Checkpoint: {save or result.checkpoint}",
            flush=True,
        )
    return result


def _config_and_state(
    config: Any, overrides: Any, resume: str | Path | None
) -> tuple[RunConfig, dict[str, Any] | None, list[str]]:
    """The run's config, the checkpoint's state when resuming, and what the overrides changed
    in the checkpoint's config."""
    if resume is None:
        return make_config(config, overrides), None, []
    state = ckpt.load_checkpoint(resume)
    cfg = from_dict(state["config"])
    if not overrides:
        return cfg, state, []
    apply_overrides(cfg, overrides)
    return cfg, state, records.changed_fields(from_dict(state["config"]), cfg)


def _announce(
    record: records.RunRecord,
    trainer: Trainer,
    resume: str | Path | None,
    changes: list[str],
    watch: CpuWatch,
    *,
    nothing_left: bool,
) -> None:
    """The run's header: which run, what it trains, on what, and anything to know first."""
    cfg, task = trainer.config, trainer.task
    if record.continued:
        action = f"Resuming run {record.run_id} at iteration {trainer.iteration}"
    elif resume is not None:
        action = f"Run {record.run_id}, from {resume} at iteration {trainer.iteration}"
    else:
        action = f"Run {record.run_id}"
    print(
        f"{action}: {cfg.name or cfg.task} | {task.describe()} | "
        f"{count_parameters(trainer.model):,} parameters | {trainer.device}, {trainer.precision} | "
        f"seed {cfg.seed}",
        flush=True,
    )
    if changes:
        print(f"Changed on resume: {'; '.join(changes)}", flush=True)
    for line in type(task).config_notes(cfg, total=trainer.total):  # a run by epochs too
        print(line, flush=True)
    if nothing_left:
        print(
            f"Nothing left to train: the checkpoint is at iteration {trainer.iteration} "
            f"of {trainer.total}; give --iters (or --epochs) beyond it to train on",
            flush=True,
        )
    note = crowding_note(watch.others(), torch.get_num_threads())
    if note and trainer.device.type == "cpu":
        print(note, flush=True)


# --------------------------------------------------------------------------- loading


@dataclass
class Loaded:
    """A checkpoint brought back to life: its config, task (data) and model in eval mode."""

    config: RunConfig
    task: Task
    model: nn.Module
    payload: dict[str, Any]


# The command that puts a checkpoint of each task to use (all of them: evaluate).
_COMMAND_OF_TASK = {
    "classify": "predict",
    "charlm": "sample",
    "tagger": "tag",
    "seq2seq": "translate",
    "hihell": "evaluate",
}


def load(
    checkpoint: str | Path,
    *,
    data_dir: str | Path | None = None,
    device: str = "auto",
    task_name: str | None = None,
    read_data: bool = True,
) -> Loaded:
    """Load a checkpoint with its task. `task_name` asserts the kind of task expected;
    `read_data=False` (classifiers only) skips the data set, for scoring pictures."""
    check_required(checkpoint=checkpoint, device=device)
    check_arguments(data_dir=data_dir, task_name=task_name, read_data=read_data)
    if task_name is not None:
        get_task_class(task_name)  # an unknown name is said as such, not as a mismatch
    dev = resolve_device(device)  # a --device typo is found before a checkpoint is read
    payload = ckpt.load_checkpoint(checkpoint)
    cfg = from_dict(payload["config"])
    if task_name and cfg.task != task_name:
        serves = _COMMAND_OF_TASK.get(cfg.task)
        raise CheckpointError(
            f"{checkpoint} is a '{cfg.task}' checkpoint, not '{task_name}'; "
            f'use a checkpoint trained with task = "{task_name}"'
            + (f" (this one works with rnnlab {serves})" if serves else "")
        )
    task_class = get_task_class(cfg.task)
    if read_data:
        task = task_class(cfg, resolve_data_dir(data_dir), dev, payload.get("task_state"))
    elif not hasattr(task_class, "for_pictures"):
        raise ConfigError(
            f"read_data=False scores pictures with a classifier; {checkpoint} is a "
            f"'{cfg.task}' checkpoint, whose task needs its data"
        )
    else:
        task = task_class.for_pictures(cfg, dev, payload.get("task_state"))
    model = task.build_model()
    ckpt.load_model_state(model, payload["model"], str(checkpoint))
    model.to(dev).eval()
    return Loaded(cfg, task, model, payload)


def evaluate(
    checkpoint: str | Path, *, data_dir: str | Path | None = None, device: str = "auto"
) -> dict[str, Any]:
    """Metrics of a checkpoint on its held-out data; for classifiers also per-class accuracy
    and the confusion matrix."""
    loaded = load(checkpoint, data_dir=data_dir, device=device)
    start = time.perf_counter()
    dev = next(loaded.model.parameters()).device
    precision = _scoring_precision(loaded)
    with autocast(dev, precision):
        result: dict[str, Any] = dict(loaded.task.evaluate(loaded.model))
        confusion = getattr(loaded.task, "confusion", None)
        matrix = confusion(loaded.model) if confusion is not None else None
    if matrix is not None:
        result["classes"] = list(loaded.task.classes)
        result["per_class_acc"] = _per_class_accuracy(matrix)
        result["confusion"] = matrix.tolist()
    result["iteration"] = loaded.payload.get("iteration")
    result["precision"] = precision
    result["seconds"] = time.perf_counter() - start
    return result


def _scoring_precision(loaded: Loaded) -> str:
    """The run's own precision, so evaluate's figures are the ones its evaluations printed
    and predict's classes are evaluate's; a bf16 run scored on a CPU without native bf16 is
    scored in fp32."""
    dev = next(loaded.model.parameters()).device
    precision = str(loaded.payload.get("precision") or "fp32")
    if precision == "bf16" and dev.type == "cpu" and not cpu_bf16_fast():
        return "fp32"
    return precision


def _per_class_accuracy(matrix: torch.Tensor) -> list[float | None]:
    """Accuracy in % of each true class (a row of the confusion matrix); None for a class
    without test images (a run with data.test_limit), which is no 0 % score."""
    return [
        100.0 * int(row[k]) / int(row.sum()) if int(row.sum()) else None
        for k, row in enumerate(matrix)
    ]


def predict(
    checkpoint: str | Path,
    *,
    indices: int | list[int] | None = None,
    images: str | Path | list[str | Path] | None = None,
    data_dir: str | Path | None = None,
    device: str = "auto",
    top: int = 3,
) -> list[dict[str, Any]]:
    """Class and probabilities for test images (by index) or for image files (PNG)."""
    from rnnlab.data.picture import load_picture

    check_required(checkpoint=checkpoint, device=device)
    check_arguments(data_dir=data_dir)
    # numbers.Integral, not int: numpy's integers (np.arange(3), an argmax) are whole numbers
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
        raise ConfigError(f"--top must be a positive integer (classes to show), got {top!r}")
    top = int(top)
    indices = _as_list(indices, "indices")
    images = _as_list(images, "images")
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise ConfigError(f"test index {i!r} is not a whole number; give indices like 0 1 2")
    indices = [int(i) for i in indices]
    loaded = load(checkpoint, data_dir=data_dir, device=device, task_name="classify",
                  read_data=False)  # fmt: skip
    task = loaded.task
    rows: list[tuple[str, torch.Tensor, int | None]] = []
    if indices:  # test images by index need the data set; pictures alone do not
        test_x, test_y = loaded.task.full_test_split(resolve_data_dir(data_dir))
    for i in indices:
        if not 0 <= i < len(test_x):
            raise ConfigError(f"test index {i} is out of range 0..{len(test_x) - 1}")
        rows.append((f"test[{i}]", test_x[i], int(test_y[i])))
    for path in images:
        picture = load_picture(
            path,
            (task.height, task.width),
            task.dataset.object_size,
            task.dataset.centre_of_mass,
        ).to(task.test_x.device)
        rows.append((str(path), picture, None))
    if not rows:
        raise ConfigError(
            "nothing to predict: give test indices (--index 0 1 2) or --image FILE.png"
        )
    batch = torch.stack([r[1].to(task.test_x.device) for r in rows])
    with autocast(task.test_x.device, _scoring_precision(loaded)):
        logits = task.predict_logits(loaded.model, batch)
    probs = torch.softmax(logits.float(), dim=1).cpu()
    out = []
    for (source, _, label), p in zip(rows, probs):
        order = p.argsort(descending=True)[:top].tolist()
        out.append(
            {
                "source": source,
                "predicted": task.classes[order[0]],
                "probability": float(p[order[0]]),
                "top": [(task.classes[k], float(p[k])) for k in order],
                "label": task.classes[label] if label is not None else None,
            }
        )
    return out


def _as_list(value: Any, name: str) -> list[Any]:
    """One value or a list of them (predict(images="digit.png") means one picture)."""
    if value is None:
        return []
    if isinstance(value, (str, Path, numbers.Integral)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ConfigError(f"{name} must be a list, got {value!r}") from None


def inspect(
    target: str | Path,
    *,
    overrides: dict[str, Any] | list[str] | None = None,
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Every parameter tensor (name, shape, count) of a preset's or checkpoint's model;
    `overrides` change a preset or config first (what would --hidden 256 cost?)."""
    check_arguments(overrides=overrides, data_dir=data_dir)
    check_source(target, "target")
    if target is None:
        raise ConfigError("target must be a preset name, a config file or a checkpoint path")
    if isinstance(target, RunConfig | dict):  # a config in hand: its model, as a preset's
        source, cfg_source = "the given config", target
    else:
        path = Path(target)
        is_preset = str(target) in preset_names()  # a folder of that name does not hide it
        if path.is_dir() and not is_preset:
            raise ConfigError(
                f"{path} is a folder; give a preset name, a config .toml or a checkpoint .pt"
            )
        if not is_preset and is_checkpoint_file(path):
            return _checkpoint_tensors(path, overrides)
        as_file = not is_preset and path.is_file()
        source = f"config {path}" if as_file else f"preset {target}"
        cfg_source = path if as_file else target
    cfg = make_config(cfg_source, overrides)
    if overrides:
        source += " with " + " ".join(f"{k}={v}" for k, v in override_items(overrides))
    model = build_model_without_data(cfg, data_dir)
    return tensor_listing(source, cfg, {k: tuple(p.shape) for k, p in model.named_parameters()})


def _checkpoint_tensors(path: Path, overrides: Any) -> dict[str, Any]:
    """inspect of a checkpoint: the tensors it holds, as they are, and whether they fit the
    model its config describes (evaluate, predict and resume refuse one that does not)."""
    if overrides:
        raise ConfigError(
            f"{path} is a checkpoint, whose model is fixed; give overrides with a preset "
            "or config instead (rnnlab inspect PRESET --hidden 256)"
        )
    payload = ckpt.load_checkpoint(path)
    source = f"checkpoint {path} (iteration {payload.get('iteration')})"
    shapes = {k: tuple(v.shape) for k, v in payload["model"].items()}
    cfg = from_dict(payload["config"])
    return tensor_listing(source, cfg, shapes, config_mismatch(cfg, payload["model"]))


def runs(
    runs_dir: str | Path | None = None,
    *,
    name: str | None = None,
    task: str | None = None,
    status: str | None = None,
    group: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Recorded runs, newest first, with their configs and final metrics."""
    check_arguments(runs_dir=runs_dir, name=name, task=task, status=status, group=group)
    for option, value in (("--name", name), ("--group", group)):
        if value is not None and not value.strip():
            # as report refuses it: an empty filter is a slip, not "every run"
            raise ConfigError(f"{option} is empty; name one, or leave it out to list every run")
    if status is not None and status not in STATUSES:
        raise ConfigError(f"unknown status '{status}'; choose one of: {', '.join(STATUSES)}")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1
    ):
        raise ConfigError(f"limit must be a whole number of runs, 1 or more (got {limit!r})")
    limit = None if limit is None else int(limit)
    if task is not None:  # a typo would otherwise just list nothing
        get_task_class(task)
    path = Path(runs_dir) if runs_dir else default_runs_dir()
    check_runs_folder(path)  # a file given as the folder is not "no runs recorded yet"
    if not (path / DB_NAME).exists():
        return []
    return ResultsStore(path).list_runs(
        name=name, task=task, status=status, group=group, limit=limit
    )


def run_details(run_id: int, runs_dir: str | Path | None = None) -> dict[str, Any]:
    """One recorded run: what `runs` lists (config, seed, versions, timing, final and best
    metrics, checkpoint) plus "history", its metrics at every evaluation."""
    if isinstance(run_id, bool) or not isinstance(run_id, numbers.Integral) or run_id < 1:
        raise ConfigError(f"a run id is a whole number, 1 or more (got {run_id!r})")
    run_id = int(run_id)
    check_arguments(runs_dir=runs_dir)
    path = Path(runs_dir) if runs_dir else default_runs_dir()
    check_runs_folder(path)
    store = ResultsStore(path) if (path / DB_NAME).exists() else None
    row = store.get_run(run_id, settle=True) if store and run_id <= MAX_INT else None
    if store is None or row is None:
        raise ConfigError(f"no run {run_id} in {path / DB_NAME}; rnnlab runs lists the runs there")
    return {**row, "history": store.metrics(run_id)}


__all__ = [
    "Loaded",
    "RnnlabError",
    "RunResult",
    "evaluate",
    "inspect",
    "load",
    "make_config",
    "run_details",
    "predict",
    "runs",
    "train",
]
