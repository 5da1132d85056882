"""dlgen: helpers for the runnable book on why deep networks generalize.

Keras 3 only (backend-neutral), NumPy arrays in and out.
"""

__version__ = "0.1.0"

import warnings as _warnings

# `python -m dlgen.diagnose` (or dlgen.claims) imports the package, and with it
# that module, before runpy runs it as __main__; runpy's warning about it says
# nothing a user can act on.
_warnings.filterwarnings("ignore", message=r"'dlgen\.[a-z_]+' found in sys\.modules", category=RuntimeWarning)

from .config import QUICK_ENV, _import_keras_quietly, budget, is_quick, set_seed, setup_notebook

_import_keras_quietly()

from .augment import AugmentationStack, augmentation_pipeline, augmented_copies, make_augmentation, with_augmentation  # noqa: E402
from .callbacks import DiagnoseCallback, DiagnosisWarning, EpochTimer, HeldOutEvaluation, TargetReached  # noqa: E402
from .data import (  # noqa: E402
    DATASETS,
    FASHION_MNIST_CLASSES,
    DataUnavailableError,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist_5k,
    make_multilabel,
    read_idx,
    stratified_indices,
    stratified_subset,
    to_model_input,
    train_val_split,
    train_val_subsets,
)
from .diagnose import REMEDIES, THRESHOLDS, VERDICTS, Diagnosis, diagnose, read_history  # noqa: E402
from .distribute import DISTRIBUTIONS, data_parallel, replicas, split_cpu  # noqa: E402
from .cache import ResultsCache, default_cache_dir, describe, fingerprint  # noqa: E402
from .evaluation import evaluate, predict  # noqa: E402
from .experiments import good_range, records_frame, selection_optimism, summarize, time_to_target  # noqa: E402
from .sweep import run_sweep  # noqa: E402
from .lr_finder import LRRangeTest, lr_range_test, suggest_learning_rate  # noqa: E402
from .metrics import (  # noqa: E402
    accuracy,
    predict_correct,
    exact_match,
    expected_calibration_error,
    multilabel_report,
    reliability,
)
from .models import build_cnn, build_mlp  # noqa: E402
from .nbsweep import notebook_sweep, publish_record, read_records, run_notebook, run_notebooks  # noqa: E402
from .notebook import glue  # noqa: E402
from .outlook import (  # noqa: E402
    FASHION_MNIST_GROUPS,
    SHIFTS,
    build_multitask_mlp,
    coarse_labels,
    fit_multitask,
    plot_confusion,
    saliency,
    shift_images,
)
from .plots import plot_history, plot_images, plot_reliability, plot_sweep  # noqa: E402
from .preflight import Preflight, preflight  # noqa: E402
from . import pathologies  # noqa: E402  (labelled runs the doctor is measured against)
from .probes import activation_stats, gradient_stats, gradients  # noqa: E402
from .schedules import SCHEDULES, OneCycle, make_schedule, schedule_values  # noqa: E402
from .surfaces import (  # noqa: E402
    Surface,
    ill_conditioned_quadratic,
    plot_surface,
    rosenbrock,
    saddle,
    steps_to_tolerance,
    trajectory,
)
from .training import OPTIMIZERS, RunRecord, fit, make_optimizer  # noqa: E402
from .claims import Claims, decide, paired  # noqa: E402
from .transfer import (  # noqa: E402
    TRANSFER_MODES,
    cached_weights,
    feature_extractor,
    imagenet_features,
    imagenet_weights_cached,
    transfer_model,
    weights_path,
)

__all__ = [
    "__version__",
    "QUICK_ENV",
    "budget",
    "is_quick",
    "set_seed",
    "setup_notebook",
    "augmentation_pipeline",
    "augmented_copies",
    "AugmentationStack",
    "make_augmentation",
    "with_augmentation",
    "DiagnoseCallback",
    "DiagnosisWarning",
    "EpochTimer",
    "HeldOutEvaluation",
    "TargetReached",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "DataUnavailableError",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist_5k",
    "make_multilabel",
    "read_idx",
    "stratified_indices",
    "stratified_subset",
    "to_model_input",
    "train_val_split",
    "train_val_subsets",
    "REMEDIES",
    "THRESHOLDS",
    "VERDICTS",
    "Diagnosis",
    "diagnose",
    "read_history",
    "DISTRIBUTIONS",
    "data_parallel",
    "replicas",
    "split_cpu",
    "evaluate",
    "predict",
    "ResultsCache",
    "default_cache_dir",
    "describe",
    "fingerprint",
    "good_range",
    "records_frame",
    "run_sweep",
    "time_to_target",
    "selection_optimism",
    "summarize",
    "LRRangeTest",
    "lr_range_test",
    "suggest_learning_rate",
    "accuracy",
    "predict_correct",
    "exact_match",
    "expected_calibration_error",
    "multilabel_report",
    "reliability",
    "build_cnn",
    "build_mlp",
    "glue",
    "notebook_sweep",
    "run_notebook",
    "run_notebooks",
    "publish_record",
    "read_records",
    "Claims",
    "decide",
    "paired",
    "FASHION_MNIST_GROUPS",
    "SHIFTS",
    "build_multitask_mlp",
    "coarse_labels",
    "fit_multitask",
    "plot_confusion",
    "saliency",
    "shift_images",
    "plot_history",
    "plot_images",
    "plot_reliability",
    "plot_sweep",
    "Preflight",
    "preflight",
    "pathologies",
    "activation_stats",
    "gradient_stats",
    "gradients",
    "SCHEDULES",
    "OneCycle",
    "make_schedule",
    "schedule_values",
    "Surface",
    "ill_conditioned_quadratic",
    "plot_surface",
    "rosenbrock",
    "saddle",
    "steps_to_tolerance",
    "trajectory",
    "OPTIMIZERS",
    "RunRecord",
    "fit",
    "make_optimizer",
    "TRANSFER_MODES",
    "cached_weights",
    "feature_extractor",
    "transfer_model",
    "imagenet_features",
    "imagenet_weights_cached",
    "weights_path",
]
