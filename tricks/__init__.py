"""Five training tricks for imbalanced image data, as plain PyTorch.

No Optuna here: use any piece in your own training loop.
"""

from tricks.augment import normalize, random_crop_flip
from tricks.config import ConfigError, TrickConfig
from tricks.data import DataBundle, DataError, load_bundle, long_tailed_counts
from tricks.finetune import FinetuneResult, no_aug_finetune
from tricks.losses import FocalLoss, balanced_softmax_loss, sigmoid_focal_loss, softmax_focal_loss
from tricks.metrics import classification_metrics
from tricks.models import ResNet32, SmallCNN, build_model
from tricks.restart import Decision, RestartController, RestartEvent, RestartReason
from tricks.schedules import ScheduleLR, warmup_cosine_lr, warmup_tanh_lr
from tricks.trainer import EpochEnd, Trainer, TrainingStopped, TrainResult, train
from tricks.weights import class_weights

__all__ = [
    "ConfigError",
    "DataBundle",
    "DataError",
    "Decision",
    "EpochEnd",
    "FinetuneResult",
    "FocalLoss",
    "ResNet32",
    "RestartController",
    "RestartEvent",
    "RestartReason",
    "ScheduleLR",
    "SmallCNN",
    "TrainResult",
    "Trainer",
    "TrainingStopped",
    "TrickConfig",
    "balanced_softmax_loss",
    "build_model",
    "class_weights",
    "classification_metrics",
    "load_bundle",
    "long_tailed_counts",
    "no_aug_finetune",
    "normalize",
    "random_crop_flip",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "train",
    "warmup_cosine_lr",
    "warmup_tanh_lr",
]
