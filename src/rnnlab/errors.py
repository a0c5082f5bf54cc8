"""User-facing errors: one line that names what was wrong and how to fix it."""


class RnnlabError(Exception):
    """An error caused by the user's input or environment, shown without a traceback."""


class ConfigError(RnnlabError):
    """An invalid preset, config file or hyper-parameter."""


class DataError(RnnlabError):
    """A missing, truncated or corrupt data file."""


class CheckpointError(RnnlabError):
    """A checkpoint that cannot be read or does not fit the model or task."""


class TrainingInterrupted(RnnlabError):
    """Ctrl-C: the run was saved and can be resumed. `exit_code` is the command's status."""

    exit_code = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C ended


class TrainingTerminated(TrainingInterrupted):
    """SIGTERM (a scheduler's time limit, `timeout`, `kill`): saved as after Ctrl-C."""

    exit_code = 143  # 128 + SIGTERM: a scheduler still sees the job was terminated


class TrainingDiverged(RnnlabError):
    """The loss became NaN or infinite. `run_id` names the run in the results store."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class ComparisonBusy(RnnlabError):
    """A comparison that another process is training now, in the same runs folder."""
