"""One training loop for every task: steps, evaluation, progress, checkpoints, results.

Reads top to bottom: `fit` runs iterations [start, total); every `eval_every` iterations it
evaluates, prints the tutorials' line (iteration, loss, accuracy) with speed and time left,
records the metrics and saves `last.pt` (and `best.pt` when the primary metric improved).
Ctrl-C (or SIGTERM) stops at the next iteration boundary and saves (training/interrupt.py);
a NaN loss stops without overwriting the last good checkpoint.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn
from tqdm import tqdm

from rnnlab.config import RunConfig
from rnnlab.errors import TrainingDiverged, TrainingInterrupted, TrainingTerminated
from rnnlab.results.atomic import atomic_write_text
from rnnlab.results.jsontext import json_text
from rnnlab.results.owner import this_process
from rnnlab.results.store import ResultsStore
from rnnlab.tasks.base import Task
from rnnlab.training import checkpoint as ckpt
from rnnlab.training.interrupt import GracefulStop
from rnnlab.training.optim import (
    learning_rate,
    load_optimizer_state,
    make_optimizer,
    set_learning_rate,
)
from rnnlab.training.progress import bar_disabled, evaluations_left, hms, time_left
from rnnlab.training.runtime import autocast, versions

# Called after every evaluation with (iteration, that evaluation's row of the history); a
# true return ends the run early with status "stopped" (a sweep pruning a poor trial).
EvalHook = Callable[[int, dict[str, Any]], bool | None]


@dataclass
class RunResult:
    """What `rnnlab.train` returns: one run as it ended.

    `run_id` and `run_dir` locate it in the results store and on disk; `checkpoint` is its
    last.pt, `best_checkpoint` its best.pt (None before the first evaluation). `status` is
    "completed" or "stopped" (ended early by `on_evaluate`, e.g. a sweep's pruner); a run
    that diverges (NaN or infinite loss) raises TrainingDiverged, one interrupted raises
    TrainingInterrupted (TrainingTerminated after SIGTERM), and the store records either.
    `iteration` is where it ended; `metrics` its last evaluation, `best` its best one (with
    the iteration), `history` every evaluation in order.
    `wall_time` (seconds) and `samples_per_sec` time the whole run, across resumes (the
    training steps only, for the speed); `config` is
    the config it ran with, `precision` the arithmetic used; `extra` holds what the caller
    asked for beside it ("saved": the --save copy's path).
    """

    run_id: int
    run_dir: Path
    checkpoint: Path
    best_checkpoint: Path | None
    status: str
    iteration: int
    metrics: dict[str, float]
    best: dict[str, float]
    history: list[dict[str, Any]]
    wall_time: float
    samples_per_sec: float
    config: RunConfig
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)


def total_iterations(task: Task, config: RunConfig) -> int:
    t = config.train
    if t.epochs > 0:
        # The decimal the user wrote, not its binary float: 1.1 * 100 is 110.00000000000001
        # in floats, which ceil made 111 iterations where 1.1 epochs of 100 batches is 110.
        return max(1, math.ceil(Fraction(repr(t.epochs)) * task.batches_per_epoch()))
    return t.iters


class Trainer:
    def __init__(
        self,
        task: Task,
        model: nn.Module,
        config: RunConfig,
        *,
        device: torch.device,
        precision: str,
        store: ResultsStore,
        run_id: int,
        run_dir: Path,
        resume_state: dict[str, Any] | None = None,
        resumed_from: Path | None = None,
        verbose: bool = True,
        on_evaluate: EvalHook | None = None,
    ) -> None:
        self.task, self.model, self.config = task, model, config
        self.on_evaluate = on_evaluate
        self.device, self.precision = device, precision
        self.store, self.run_id, self.run_dir = store, run_id, Path(run_dir)
        self.verbose = verbose
        self.optimizer = make_optimizer(model.parameters(), config.train)
        self.total = total_iterations(task, config)
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, float] = {}
        self.prior_wall = 0.0
        self.prior_train_time = 0.0
        self.prior_samples = 0
        self.running: dict[str, Any] = {}
        self.saved_iteration = 0  # the iteration last.pt holds
        self.resumed_from = resumed_from  # the checkpoint resume_state came from
        if resume_state is not None:
            self._restore(resume_state)

    # -- paths ---------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"

    # -- checkpoint state ----------------------------------------------------------------
    def payload(
        self, wall: float, train_time: float, samples: int, running: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The checkpoint. `running` holds the training-loss sums since the last evaluation
        when a run stops between evaluations, so the resumed run logs the same averages."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "task": self.config.task,
            "config": self.config.to_dict(),
            "task_state": self.task.state_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "total_iterations": self.total,
            "history": self.history,
            "best": self.best,
            "rng": rng,
            "run_id": self.run_id,
            "precision": self.precision,
            "wall_time": wall,
            "train_time": train_time,
            "samples": samples,
            "versions": versions(),
            "running": running or {},
        }

    def _restore(self, state: dict[str, Any]) -> None:
        ckpt.load_model_state(self.model, state["model"], "to resume")
        saved_train = (state.get("config") or {}).get("train") or {}
        load_optimizer_state(
            self.optimizer,
            state["optimizer"],
            saved_train.get("optimizer"),
            self.config.train,
            str(self.resumed_from or "the checkpoint"),
        )
        self.iteration = self.saved_iteration = int(state["iteration"])
        self.history = list(state.get("history", []))
        self.best = dict(state.get("best", {}))
        self.prior_wall = float(state.get("wall_time", 0.0))
        self.prior_train_time = float(state.get("train_time", 0.0))
        self.prior_samples = int(state.get("samples", 0))
        self.running = dict(state.get("running") or {})
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    # -- the loop ------------------------------------------------------------------------
    def fit(self) -> RunResult:
        cfg = self.config.train
        model, task = self.model, self.task
        task.prepare_training()
        model.train()
        start_iter = self.iteration
        started = time.perf_counter()
        train_time = 0.0
        samples = 0
        loss_sum = float(self.running.get("loss_sum", 0.0))
        loss_count = int(self.running.get("loss_count", 0))
        extras_sum: dict[str, float] = dict(self.running.get("extras_sum", {}))
        # a checkpoint saved before extras had weights counted each batch once
        weights = self.running.get("extras_weight") or dict.fromkeys(extras_sum, loss_count)
        extras_weight: dict[str, float] = {k: float(w) for k, w in weights.items()}
        # before this run's own first save, the checkpoint it started from is the good one
        last_good = self.last_path if self.last_path.exists() else self.resumed_from

        self.store.update_run(
            self.run_id,
            status="running",
            total_iterations=self.total,
            precision=self.precision,
            message=None,  # a resumed run drops its "interrupted" note
            owner=this_process(),
        )
        bar = tqdm(
            total=self.total,
            initial=start_iter,
            unit="it",
            dynamic_ncols=True,
            disable=bar_disabled(self.verbose),
            leave=False,
            file=sys.stderr,
        )

        def elapsed() -> float:
            return self.prior_wall + time.perf_counter() - started

        def speed() -> float:
            t = self.prior_train_time + train_time
            return (self.prior_samples + samples) / t if t > 0 else 0.0

        evaluations = 0  # made by this process

        def seconds_left() -> float:
            """Steps and evaluations to come, each at this process's own mean time."""
            return time_left(
                train_time,
                self.iteration - start_iter,
                time.perf_counter() - started - train_time,  # evaluations, saves, samples
                evaluations,
                self.total - self.iteration,
                evaluations_left(self.iteration, self.total, cfg.eval_every),
            )

        def evaluate_now() -> bool:
            """Evaluate, record and save at self.iteration; True when on_evaluate ends the run."""
            nonlocal loss_sum, loss_count, extras_sum, extras_weight, last_good, evaluations
            evaluations += 1
            if not _finite_weights(model):  # a gradient overflowed, the loss did not
                message = (
                    f"weights became nan or infinite by iteration {self.iteration} "
                    "(a gradient overflowed)"
                )
                self._diverged(message, self.iteration - 1, last_good, elapsed())
            train_metrics = {"train_loss": loss_sum / max(1, loss_count)}
            train_metrics.update(
                {f"train_{k}": _mean(v, extras_weight.get(k, 0.0)) for k, v in extras_sum.items()}
            )
            loss_sum, loss_count, extras_sum, extras_weight = 0.0, 0, {}, {}
            line = self._evaluate_and_save(train_metrics, elapsed(), train_time, samples)
            last_good = self.last_path
            self._say(
                bar,
                f"{line} | {task.format_speed(speed())} | {hms(elapsed())} elapsed | "
                f"{hms(seconds_left())} left",
            )
            extra = self.task.on_eval(model, self.iteration)
            model.train()
            if extra:
                self._say(bar, extra)
            return bool(
                self.on_evaluate is not None and self.on_evaluate(self.iteration, self.history[-1])
            )

        status = "completed"
        stop = GracefulStop(announce=self.verbose)
        try:
            with stop:
                while self.iteration < self.total:
                    if stop.requested:
                        raise KeyboardInterrupt
                    it = self.iteration
                    t0 = time.perf_counter()
                    set_learning_rate(self.optimizer, learning_rate(cfg, it, self.total))
                    batch = task.batch(it)
                    with autocast(self.device, self.precision):
                        loss, extras = task.loss(model, batch, it)
                    loss_value = loss.item()
                    if not math.isfinite(loss_value):
                        message = f"loss became {loss_value} at iteration {it + 1}"
                        self._diverged(message, it, last_good, elapsed())
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.clip_grad > 0:
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
                    self.optimizer.step()
                    self.iteration = it + 1
                    n = _batch_size(batch)
                    samples += n
                    train_time += time.perf_counter() - t0
                    loss_sum += loss_value
                    loss_count += 1
                    _add_extras(extras, extras_sum, extras_weight)
                    bar.update(1)
                    if self.iteration % 10 == 0:
                        bar.set_postfix(loss=f"{loss_value:.4f}", sps=f"{speed():,.0f}")

                    at_eval = self.iteration % cfg.eval_every == 0 or self.iteration == self.total
                    if at_eval and evaluate_now():
                        status = "stopped"
                        break
                else:
                    # A run stopped between evaluations (Ctrl-C) and resumed with its length
                    # cut to where it stopped trains nothing, but its last steps were never
                    # evaluated: without this it ended "completed" with the metrics of an
                    # earlier iteration than its last.pt.
                    last_eval = self.history[-1]["iteration"] if self.history else 0
                    if last_eval < self.iteration and evaluate_now():
                        status = "stopped"
        except KeyboardInterrupt:
            bar.close()
            running = {
                "loss_sum": loss_sum,
                "loss_count": loss_count,
                "extras_sum": extras_sum,
                "extras_weight": extras_weight,
            }
            self._stop(
                stop,
                elapsed(),
                self.prior_train_time + train_time,
                self.prior_samples + samples,
                running,
            )
        bar.close()

        wall = elapsed()
        final = self.history[-1] if self.history else {}
        metrics = {k: v for k, v in final.items() if k not in ("iteration", "wall_time")}
        result = RunResult(
            run_id=self.run_id,
            run_dir=self.run_dir,
            checkpoint=self.last_path,
            best_checkpoint=self.best_path if self.best_path.exists() else None,
            status=status,
            iteration=self.iteration,
            metrics=metrics,
            best=self.best,
            history=self.history,
            wall_time=wall,
            samples_per_sec=speed(),
            config=self.config,
            precision=self.precision,
        )
        self.store.update_run(
            self.run_id,
            status=status,
            iteration=self.iteration,
            wall_time=wall,
            samples_per_sec=result.samples_per_sec,
            final_metrics=metrics,
            best_metrics=self.best,
            checkpoint=str(self.last_path),
        )
        self._write_result_file(result)
        return result

    # -- helpers -------------------------------------------------------------------------
    def _evaluate_and_save(
        self, train_metrics: dict[str, float], wall: float, train_time: float, samples: int
    ) -> str:
        """Evaluate, record, checkpoint; returns the tutorials' progress line."""
        with autocast(self.device, self.precision):
            metrics = self.task.evaluate(self.model)
        self.model.train()
        row = {"iteration": self.iteration, "wall_time": round(wall, 3), **train_metrics, **metrics}
        self.history.append(row)
        self.store.log_metrics(self.run_id, self.iteration, {**train_metrics, **metrics}, wall)
        key = self.task.selection_metric
        value = metrics[key]
        improved = not self.best or (
            value > self.best[key] if self.task.higher_is_better else value < self.best[key]
        )
        if improved:
            self.best = {"iteration": self.iteration, **metrics}
        payload = self.payload(
            wall, self.prior_train_time + train_time, self.prior_samples + samples
        )
        ckpt.save_checkpoint(self.last_path, payload)
        self.saved_iteration = self.iteration
        if improved:
            ckpt.save_checkpoint(self.best_path, payload)
        self.store.update_run(
            self.run_id,
            iteration=self.iteration,
            wall_time=wall,
            final_metrics=metrics,
            best_metrics=self.best,
            checkpoint=str(self.last_path),
        )
        return (
            f"Iteration: {self.iteration}/{self.total}. Loss: {train_metrics['train_loss']:.4f}. "
            f"{self.task.format_metrics(metrics)}"
        )

    def _stop(
        self,
        stop: GracefulStop,
        wall: float,
        train_time: float,
        samples: int,
        running: dict[str, Any],
    ) -> NoReturn:
        """Ctrl-C or SIGTERM ended the loop: save where it stopped when that state is whole,
        record the run as interrupted, and raise the one line that says how to go on."""
        at = f"at iteration {self.iteration}/{self.total}"
        verb = "terminated (SIGTERM)" if stop.terminated else "interrupted"
        # weights a gradient overflow has just broken are not saved over the last good ones
        intact = _finite_weights(self.model)
        if stop.requested and not stop.twice and intact:
            said = self._save_on_stop(wall, train_time, samples, running, verb, at)
        elif not intact:
            said = (
                f"{verb} {at}, where the weights had become nan or infinite (a gradient "
                "overflowed), so they were not saved"
            )
        else:  # stopped mid-iteration: the state in memory is half-updated, keep the last save
            said = f"stopped at once {at}"
        saved = self.last_path.exists()
        self.store.update_run(
            self.run_id,
            status="interrupted",
            iteration=self.saved_iteration,
            wall_time=wall,
            checkpoint=str(self.last_path) if saved else None,
            message="stopped by SIGTERM" if stop.terminated else "interrupted by the user",
        )
        error = TrainingTerminated if stop.terminated else TrainingInterrupted
        if not saved:
            raise error(f"{said}; nothing was saved yet, so start it again") from None
        if self.saved_iteration != self.iteration:
            said += f"; the last checkpoint is {self.last_path} (iteration {self.saved_iteration})"
        raise error(f"{said}; continue with: rnnlab train --resume {self.last_path}") from None

    def _save_on_stop(
        self,
        wall: float,
        train_time: float,
        samples: int,
        running: dict[str, Any],
        verb: str,
        at: str,
    ) -> str:
        """Save last.pt where the loop stopped; returns what to say about it."""
        try:
            ckpt.save_checkpoint(self.last_path, self.payload(wall, train_time, samples, running))
        except KeyboardInterrupt:
            # a second Ctrl-C while saving: the write is atomic, so the last save stays whole
            return f"stopped at once {at}"
        self.saved_iteration = self.iteration
        return f"{verb} {at}; saved {self.last_path}"

    def _diverged(self, message: str, it: int, last_good: Path | None, wall: float) -> None:
        where = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was saved yet"
        self.store.update_run(
            self.run_id, status="diverged", iteration=it, wall_time=wall, message=message
        )
        raise TrainingDiverged(
            f"{message}; {where}; lower the learning rate (--lr) or clip gradients "
            "(--clip-grad 1.0)",
            run_id=self.run_id,
        )

    def _say(self, bar, text: str) -> None:
        if self.verbose:
            bar.write(text, file=sys.stdout)
            sys.stdout.flush()

    def _write_result_file(self, result: RunResult) -> None:
        run = self.store.get_run(self.run_id) or {}
        data = {
            "run_id": result.run_id,
            "status": result.status,
            "config": self.config.to_dict(),
            "precision": result.precision,
            "device": run.get("device"),
            "versions": run.get("versions"),
            "iteration": result.iteration,
            "wall_time": result.wall_time,
            "samples_per_sec": result.samples_per_sec,
            "metrics": result.metrics,
            "best": result.best,
            "history": result.history,
            "checkpoint": str(result.checkpoint),
            "resumes": run.get("resumes") or [],
        }
        atomic_write_text(self.run_dir / "result.json", json_text(data) + "\n")


def _add_extras(extras: dict, sums: dict[str, float], weights: dict[str, float]) -> None:
    """Add one batch's loss() extras to the window's weighted sums (a plain number weighs 1,
    a `Weighted` one its own weight)."""
    for k, v in extras.items():
        w = float(getattr(v, "weight", 1.0))
        sums[k] = sums.get(k, 0.0) + float(v) * w
        weights[k] = weights.get(k, 0.0) + w


def _mean(total: float, weight: float) -> float:
    return total / weight if weight else 0.0


def _finite_weights(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(first, torch.Tensor):
        return int(first.shape[0])
    return len(first)
