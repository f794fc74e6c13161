"""Names of the groups, datasets and attributes of an ensgui run file (format 1, see docs/hdf5-layout.md)."""

from __future__ import annotations

FORMAT = 1

# Root attributes.
ATTR_FORMAT = "format"
ATTR_ENSGUI_VERSION = "ensgui_version"
ATTR_TORCH_VERSION = "torch_version"
ATTR_CREATED = "created"
ATTR_STATUS = "status"
ATTR_DEVICE = "device"
ATTR_SPEC = "spec"
ATTR_ERROR = "error"
ATTR_PID = "pid"
ATTR_HOSTNAME = "hostname"
ATTR_PROCESS_START = "process_start"  # Linux boot-relative start time of the writer, guards against pid reuse
ATTR_ELAPSED = "elapsed"
ATTR_ROW_NAMES = "row_names"
ATTR_THREADS = "threads"  # torch CPU threads of the (latest) writer: CPU results are bitwise equal only with these
EXTRA_PREFIX = "extra."  # RunEnded.extra values become root attributes "extra.<name>"

STATUS_RUNNING = "running"
STATUS_INCOMPLETE = "incomplete"  # never written: what a reader reports for a "running" file whose writer died
END_STATUSES = ("finished", "cancelled", "failed", "diverged")

# /schedule
SCHEDULE = "schedule"
SCHEDULE_LR = "schedule/lr"
SCHEDULE_SNAPSHOTS = "schedule/snapshots"
ATTR_ITERS_PER_EPOCH = "iters_per_epoch"
ATTR_EPOCHS = "epochs"
ATTR_MEMBERS = "members"
ATTR_ROWS = "rows"

# /metrics/<member>/<name>: rows of [global_step, epoch, value]
METRICS = "metrics"
METRIC_COLUMNS = ("global_step", "epoch", "value")
METRIC_CHUNK_ROWS = 512

# /members/<k>/snapshots/<j>/<param name>, /members/<k>/train_indices, /members/<k>/oob_indices
MEMBERS = "members"
SNAPSHOTS = "snapshots"
TRAIN_INDICES = "train_indices"
OOB_INDICES = "oob_indices"
ATTR_EPOCH = "epoch"
ATTR_STEP = "step"
ATTR_LR = "lr"
ATTR_ROW = "row"
ATTR_PARTIAL_EPOCH = "partial_epoch"  # a stopped member's weights as they stood: the (fractional) epoch reached

# /eval/<split>/{probs, labels, curves/<metric>, members/<metric>}
EVAL = "eval"
PROBS = "probs"
LABELS = "labels"
CURVES = "curves"
MEMBER_METRICS = "members"
ATTR_TEMPERATURE = "temperature"
ATTR_PARTIAL_ROWS = "partial_rows"  # rows of stopped members (a stopped run evaluates them as they stand)
ATTR_PARTIAL_EPOCHS = "partial_epochs"  # the epoch each of those rows had reached
HEADLINE_METRICS = ("error", "nll", "cnll", "ece")
# Curves every evaluation defines, so NaN in them is damage; the others are NaN where undefined (AUROC when every
# object is right or every one wrong, cnll_val without a validation split). Infinity is damage in every curve.
DEFINED_CURVES = ("error", "nll", "cnll", "brier", "ece")
PROBABILITY_TOLERANCE = 1e-3  # stored probabilities lie in [0, 1] up to float32 rounding

# /analysis/<name>: artefacts (engine.events.Artefact); each '/'-separated part of the name is a group
ANALYSIS = "analysis"
ATTR_ARTEFACT_CREATED = "created"  # when an artefact was added to a run that had ended

# /analysis/margins/<split>/{raw, normalized, labels}: final margins of every row
MARGINS_ARTEFACT = "margins"
MARGINS = "analysis/margins"
MARGINS_RAW = "raw"
MARGINS_NORMALIZED = "normalized"
MARGIN_SPLITS = ("train", "val", "test")

# /analysis/boosting/{models, gaps, margins}: one row per gap-boosting round
BOOSTING_ARTEFACT = "boosting"
BOOSTING = "analysis/boosting"
BOOSTING_MODELS = "models"  # int64 (R,): 0-based model that trained with the row's gaps
BOOSTING_GAPS = "gaps"  # float32 (R, N_train)
BOOSTING_MARGINS = "margins"  # float32 (R, N_train): the training margins the gaps came from
ATTR_VARIANT = "variant"
ATTR_MARGINS_OF = "margins_of"

# A gap sweep's summary (storage.sweep_store) says what it is with this root attribute "kind", not with "format".
SWEEP_KIND = "gap_sweep"

# /log: one UTF-8 string per line
LOG = "log"
LOG_CHUNK_LINES = 256


def member_path(member: int) -> str:
    return f"{MEMBERS}/{int(member)}"


def snapshot_path(member: int, index: int) -> str:
    return f"{MEMBERS}/{int(member)}/{SNAPSHOTS}/{int(index)}"


def metric_path(member: int, name: str) -> str:
    return f"{METRICS}/{int(member)}/{name}"


def eval_path(split: str) -> str:
    return f"{EVAL}/{split}"


def margins_path(split: str) -> str:
    return f"{MARGINS}/{split}"


def encode_name(name: str) -> str:
    """A parameter name as an HDF5 link name: '/' would make a subgroup, so it (and '%') is escaped."""
    return name.replace("%", "%25").replace("/", "%2F")


def decode_name(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


def artefact_parts(name: str) -> list[str]:
    """The name's parts; ValueError unless every part is a non-empty HDF5 link name."""
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{name!r} is not a valid artefact name: it needs non-empty parts separated by '/'")
    return parts


def artefact_path(name: str) -> str:
    """Where an artefact lives in the run file: /analysis/<name>."""
    return f"{ANALYSIS}/{'/'.join(artefact_parts(name))}"
