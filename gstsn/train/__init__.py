"""Training: the BA+ triplet loss (``loss``), the loop with checkpoints and resume (``trainer``), atomic checkpoint
files (``checkpoint``), data-parallel helpers (``distributed``) and the ``gstsn train`` / ``gstsn eval`` commands
(``commands``). See ``docs/training.md``.
"""

from gstsn.train.errors import TrainingDiverged, TrainingError
from gstsn.train.loss import batch_all_triplet
from gstsn.train.result import TrainResult
from gstsn.train.trainer import train

__all__ = ["TrainResult", "TrainingDiverged", "TrainingError", "batch_all_triplet", "train"]
