"""rnnlab: build, train, compare and tune recurrent neural networks in PyTorch.

import rnnlab
result = rnnlab.train("sheet-lstm", data_dir="data", overrides={"train.iters": 500})
rnnlab.evaluate(result.checkpoint, data_dir="data")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {"train", "evaluate", "predict", "inspect", "load", "runs", "run_details", "make_config"}
# Functions that live beside the core API: name -> module.
_MORE = {
    "presets": "rnnlab.config",
    "download": "rnnlab.data.download",
    "sample": "rnnlab.inference.sampling",
    "sample_pieces": "rnnlab.inference.sampling",
    "tag": "rnnlab.inference.tagging",
    "tag_many": "rnnlab.inference.tagging",
    "translate": "rnnlab.inference.translation",
    "translate_many": "rnnlab.inference.translation",
    "compare": "rnnlab.experiments.compare",
    "plan_comparison": "rnnlab.experiments.compare",
    "studies": "rnnlab.experiments.compare",
    "report": "rnnlab.experiments.report",
    "sweep": "rnnlab.experiments.sweep",
    "plan_sweep": "rnnlab.experiments.sweep",
    "sweeps": "rnnlab.experiments.sweep",
    "RunResult": "rnnlab.api",
    # every error rnnlab raises on bad input derives from RnnlabError: catch that one
    **dict.fromkeys(
        (
            "RnnlabError",
            "ConfigError",
            "DataError",
            "CheckpointError",
            "TrainingInterrupted",
            "TrainingTerminated",
            "TrainingDiverged",
            "ComparisonBusy",
        ),
        "rnnlab.errors",
    ),
}


def __dir__() -> list[str]:
    # the lazy names too, for tab completion and help(); not this module's own helpers
    return sorted({"__version__", *_API, *_MORE})


def __getattr__(name: str) -> Any:
    # The API pulls in torch; importing it lazily keeps `import rnnlab` cheap.
    if name in _API or name in _MORE:
        import importlib

        return getattr(importlib.import_module(_MORE.get(name, "rnnlab.api")), name)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")


__all__ = sorted(_API | set(_MORE))
