"""Models: one recurrent builder and the heads that sit on it."""

from rnnlab.models.recurrent import make_recurrent, recurrent_output_size

__all__ = ["make_recurrent", "recurrent_output_size"]
