"""The registered synthetic datasets: parameters, the on-disk cache, and the loaders.

A loader's keyword parameters are the dataset's parameters (``--set
synthetic.n_train=3000``). The data are generated once per distinct set of
parameters, streamed chunk by chunk into the canonical HDF5 form, and cached
as ``$MMERBENCH_HOME/cache/synthetic/<name>-<key>.h5``, where the key hashes
the generator version and every parameter. Two processes asking for the same
file at once take turns on a lock file: the first generates, the second finds
the finished file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from mmerbench import progress
from mmerbench.data import CanonicalWriter, Dataset, load_canonical, mmerbench_home
from mmerbench.errors import DataError, UsageError

log = logging.getLogger(__name__)

# Bump whenever the generated arrays would change: old cache files are then never reused.
GENERATOR_VERSION = "1"
SPLITS = ("train", "valid", "test")
CHUNK_BYTES = 64 << 20  # features generated (and held) at a time
IN_MEMORY_BYTES = 256 << 20  # smaller files are read into memory on load


@dataclass(frozen=True)
class SyntheticParams:
    """Every parameter that determines a synthetic dataset (all of them go into the cache key)."""

    name: str
    seed: int
    sizes: tuple[int, int, int]  # train, valid, test
    steps: dict[str, int]  # modality -> padded steps (text first: the shared time axis)
    dims: dict[str, int]
    missing_rate: float = 0.0
    noise_scale: float = 1.0
    cue_strength: float = 6.0
    cue_steps: int = 3
    dtype: str = "float32"
    single_label: bool = False  # synthetic-single: one IEMOCAP-like class per sample (single.py)
    # The synthetic-uncertain knobs (see story.Story). They enter the cache key only when they differ
    # from these defaults, so the original datasets keep their cache files (and, being the same
    # arrays, their fingerprints).
    noise_log_sd: float = 0.5
    always_cued: bool = False
    fixed_intensity: float = 0.0
    confuser_probability: float = 0.25
    shared_noise: bool = False

    def validate(self) -> None:
        owner = f"dataset {self.name}"
        for split, size in zip(SPLITS, self.sizes):
            if size < 0 or (size == 0 and split != "valid"):
                raise UsageError(f"{owner}: n_{split} must be {'>= 0' if split == 'valid' else '>= 1'}, got {size}")
        for m in self.steps:
            if self.steps[m] < 1:
                raise UsageError(f"{owner}: {m} steps must be >= 1, got {self.steps[m]}")
            if self.dims[m] < 1:
                raise UsageError(f"{owner}: {m} feature dim must be >= 1, got {self.dims[m]}")
        base = self.steps["text"]
        if not 1 <= self.cue_steps < base:
            raise UsageError(f"{owner}: cue_steps must be in 1..{base - 1} (below the text steps), got {self.cue_steps}")
        if not 0.0 <= self.missing_rate < 1.0:
            raise UsageError(f"{owner}: missing_rate must be in [0, 1), got {self.missing_rate}")
        if self.noise_scale <= 0 or self.cue_strength < 0:
            raise UsageError(f"{owner}: noise_scale must be > 0 and cue_strength >= 0, got "
                             f"{self.noise_scale} and {self.cue_strength}")
        if self.dtype not in ("float32", "float16"):
            raise UsageError(f"{owner}: dtype must be 'float32' or 'float16', got {self.dtype!r}")
        if self.noise_log_sd < 0 or self.fixed_intensity < 0 or not 0.0 <= self.confuser_probability <= 1.0:
            raise UsageError(f"{owner}: noise_log_sd and fixed_intensity must be >= 0 and confuser_probability in "
                             f"[0, 1], got {self.noise_log_sd}, {self.fixed_intensity} and {self.confuser_probability}")

    def key(self) -> str:
        values = asdict(self)
        if not values["single_label"]:  # so the multi-label datasets keep their cache keys (and cached files)
            del values["single_label"]
        for name, default in UNCERTAIN_DEFAULTS.items():
            if values[name] == default:
                del values[name]
        text = json.dumps({"generator_version": GENERATOR_VERSION, **values}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def story(self):
        from mmerbench_datasets.synthetic.story import Story

        return Story(seed=self.seed, steps=dict(self.steps), dims=dict(self.dims), missing_rate=self.missing_rate,
                     noise_scale=self.noise_scale, cue_strength=self.cue_strength, cue_steps=self.cue_steps,
                     single_label=self.single_label,
                     noise_log_sd=self.noise_log_sd, always_cued=self.always_cued,
                     fixed_intensity=self.fixed_intensity, confuser_probability=self.confuser_probability,
                     shared_noise=self.shared_noise)


UNCERTAIN_DEFAULTS = {"noise_log_sd": 0.5, "always_cued": False, "fixed_intensity": 0.0, "confuser_probability": 0.25,
                      "shared_noise": False}


def cache_path(params: SyntheticParams) -> Path:
    return mmerbench_home() / "cache" / "synthetic" / f"{params.name}-{params.key()}.h5"


# --------------------------------------------------------------------------- generation


def chunk_rows(params: SyntheticParams) -> int:
    """Samples per chunk so that one chunk's float32 features stay near CHUNK_BYTES."""
    per_sample = 4 * sum(params.steps[m] * params.dims[m] for m in params.steps)
    return max(1, CHUNK_BYTES // per_sample)


def expected_bytes(params: SyntheticParams) -> int:
    """The canonical file's size, known before generating: features plus the small per-sample arrays."""
    from mmerbench_datasets.synthetic.story import LABEL_NAMES

    itemsize = 2 if params.dtype == "float16" else 4
    q, modalities = len(LABEL_NAMES), len(params.steps)
    features = itemsize * sum(params.steps[m] * params.dims[m] for m in params.steps)
    small = 4 * modalities + q + 4 * (modalities + q + q * modalities)  # lengths, labels, meta
    return sum(params.sizes) * (features + small)


DISK_MARGIN = 1.05  # HDF5 chunk and checksum overhead, with room to spare
DISK_SLACK = 16 << 20  # HDF5 metadata of a small file


def check_disk_space(path: Path, params: SyntheticParams) -> None:
    """Refuse before writing a dataset that would not fit on the disk holding ``path``."""
    needed = int(expected_bytes(params) * DISK_MARGIN) + DISK_SLACK
    folder = path.parent
    while not folder.exists():  # the cache folder may not exist yet: ask the disk it will be on
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise UsageError(
            f"dataset {params.name}: generating it needs about {needed / 1e9:.2f} GB in {path.parent}, but only "
            f"{free / 1e9:.2f} GB are free there; free some space, point MMERBENCH_HOME at a larger disk, or "
            "generate less (fewer samples or steps, or dtype=float16)")


def write_synthetic(path: str | Path, params: SyntheticParams, chunk_size: int | None = None) -> Path:
    """Generate the dataset chunk by chunk into a canonical HDF5 file (atomically renamed)."""
    from mmerbench_datasets.synthetic.single import SINGLE_LABEL_NAMES
    from mmerbench_datasets.synthetic.story import LABEL_NAMES, generate_chunk, signatures

    params.validate()
    check_disk_space(Path(path), params)
    story = params.story()
    pattern = signatures(story)
    chunk_size = chunk_size or chunk_rows(params)
    n_modalities = len(params.steps)
    attrs = {"generator": "mmerbench synthetic", "generator_version": GENERATOR_VERSION,
             "params": json.dumps(asdict(params))}
    label_names = SINGLE_LABEL_NAMES if params.single_label else LABEL_NAMES
    with CanonicalWriter(path, name=params.name, label_names=label_names, modalities=params.dims,
                         single_label=params.single_label, dtype=params.dtype, attrs=attrs) as writer:
        for split_index, (split, size) in enumerate(zip(SPLITS, params.sizes)):
            if split == "valid" and size == 0:
                continue
            writer.create_split(split, n=size, steps=params.steps,
                                meta_shapes={"noise": (n_modalities,), "intensity": (len(label_names),),
                                             "cued": (len(label_names), n_modalities)})
            for start in range(0, size, chunk_size):
                stop = min(start + chunk_size, size)
                writer.write_rows(split, **generate_chunk(story, pattern, split_index, range(start, stop)))
                progress.report(stage="generate", dataset=params.name, split=split, done=stop, total=size)
    return Path(path)


@contextmanager
def _exclusive(lock_path: Path):
    """Hold an exclusive lock on ``lock_path`` (a no-op where fcntl is missing, e.g. Windows:
    there each process writes its own temporary file and the rename stays atomic)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_cached(params: SyntheticParams) -> Path:
    """The cache file for ``params``, generated first when absent (or unreadable)."""
    path = cache_path(params)
    if path.exists():
        return path
    with _exclusive(path.with_name(path.name + ".lock")):
        if path.exists():  # another process finished it while we waited
            return path
        # Holding the lock, any temporary file of this target is left over from a
        # killed process (a MOSEI-size one is gigabytes): remove it.
        for stale in path.parent.glob(f".{path.name}.tmp-*"):
            stale.unlink(missing_ok=True)
        log.info("generating %s (%s) into %s", params.name, params.key(), path)
        return write_synthetic(path, params)


def load_params(params: SyntheticParams, loader_params: dict) -> Dataset:
    params.validate()
    path = ensure_cached(params)
    try:
        dataset = _open(path)
    except DataError as exc:  # a damaged cache file (copied, truncated): make it again
        log.warning("cached synthetic dataset is unreadable (%s); regenerating it", exc)
        with _exclusive(path.with_name(path.name + ".lock")):
            path.unlink(missing_ok=True)
        dataset = _open(ensure_cached(params))
    dataset.params = dict(loader_params)
    dataset.notes.append(f"synthetic data, generator version {GENERATOR_VERSION}, cached at {path}")
    return dataset


def _open(path: Path) -> Dataset:
    return load_canonical(path, in_memory=path.stat().st_size <= IN_MEMORY_BYTES)


# --------------------------------------------------------------------------- loaders


def load_synthetic(
    seed: int = 0,
    n_train: int = 1500,
    n_valid: int = 300,
    n_test: int = 600,
    steps: int = 24,
    text_dim: int = 48,
    audio_dim: int = 24,
    vision_dim: int = 16,
    unaligned: bool = False,
    frame_ratio: int = 4,
    missing_rate: float = 0.0,
    noise_scale: float = 1.0,
    cue_strength: float = 6.0,
    cue_steps: int = 3,
    dtype: str = "float32",
) -> Dataset:
    """The small built-in default: aligned text/audio/vision sequences of ``steps`` steps.

    ``unaligned=True`` gives audio and vision ``frame_ratio`` frames per text
    step; ``missing_rate`` drops each modality of a sample with that
    probability (never all of them); ``noise_scale`` scales the background
    noise and ``cue_strength`` the emotion cues.
    """
    return _load("synthetic", locals())


def load_synthetic_unaligned(
    seed: int = 0,
    n_train: int = 1500,
    n_valid: int = 300,
    n_test: int = 600,
    steps: int = 24,
    text_dim: int = 48,
    audio_dim: int = 24,
    vision_dim: int = 16,
    unaligned: bool = True,
    frame_ratio: int = 4,
    missing_rate: float = 0.0,
    noise_scale: float = 1.0,
    cue_strength: float = 6.0,
    cue_steps: int = 3,
    dtype: str = "float32",
) -> Dataset:
    """The small default's unaligned variant: audio and vision at 4 frames per text step."""
    return _load("synthetic-unaligned", locals())


def load_synthetic_single(
    seed: int = 0,
    n_train: int = 1500,
    n_valid: int = 300,
    n_test: int = 600,
    steps: int = 24,
    text_dim: int = 48,
    audio_dim: int = 24,
    vision_dim: int = 16,
    unaligned: bool = False,
    frame_ratio: int = 4,
    missing_rate: float = 0.0,
    noise_scale: float = 1.0,
    cue_strength: float = 6.0,
    cue_steps: int = 3,
    dtype: str = "float32",
) -> Dataset:
    """IEMOCAP-like single-label data: one of six classes per sample (happy, sad, neutral, angry,
    excited, frustrated, at IEMOCAP's class frequencies); otherwise the small default's story and
    parameters. Scored with ``single_acc`` and weighted F1 besides the multi-label scores."""
    return _load("synthetic-single", locals(), single_label=True)


def load_synthetic_uncertain(
    seed: int = 0,
    n_train: int = 1500,
    n_valid: int = 300,
    n_test: int = 600,
    steps: int = 24,
    text_dim: int = 48,
    audio_dim: int = 24,
    vision_dim: int = 16,
    unaligned: bool = False,
    frame_ratio: int = 4,
    missing_rate: float = 0.0,
    noise_scale: float = 1.0,
    cue_strength: float = 3.0,
    cue_steps: int = 3,
    dtype: str = "float32",
    noise_log_sd: float = 0.8,
    always_cued: bool = True,
    fixed_intensity: float = 1.0,
    confuser_probability: float = 0.0,
    shared_noise: bool = True,
) -> Dataset:
    """The small default's story with the true noise level as the main driver of difficulty.

    Every present emotion shows in every modality at one fixed intensity, no
    confusers, and the per-sample noise level spreads wider (log-normal sd
    ``noise_log_sd`` instead of 0.5) against weaker cues: what separates an
    easy sample from a hard one is how noisy it is, which ``meta["noise"]``
    records. On ``synthetic`` an ideal detector's loss barely follows the
    noise; here it does (tests/test_synthetic_uncertain.py), so uncertainty
    estimates can be judged against the truth (``noise_spearman``).
    """
    return _load("synthetic-uncertain", locals())


def _load(name: str, given: dict, single_label: bool = False) -> Dataset:
    ratio = given["frame_ratio"] if given["unaligned"] else 1
    if ratio < 1:
        raise UsageError(f"dataset {name}: frame_ratio must be >= 1, got {ratio}")
    steps = given["steps"]
    params = SyntheticParams(
        name=name, seed=given["seed"], sizes=(given["n_train"], given["n_valid"], given["n_test"]),
        steps={"text": steps, "audio": steps * ratio, "vision": steps * ratio},
        dims={"text": given["text_dim"], "audio": given["audio_dim"], "vision": given["vision_dim"]},
        missing_rate=given["missing_rate"], noise_scale=given["noise_scale"],
        cue_strength=given["cue_strength"], cue_steps=given["cue_steps"], dtype=given["dtype"],
        single_label=single_label,
        **{name: given[name] for name in UNCERTAIN_DEFAULTS if name in given},
    )
    return load_params(params, given)


def load_synthetic_mosei(
    seed: int = 0,
    n_train: int = 16326,
    n_valid: int = 1871,
    n_test: int = 4659,
    text_steps: int = 50,
    audio_steps: int = 500,
    vision_steps: int = 500,
    text_dim: int = 300,
    audio_dim: int = 74,
    vision_dim: int = 35,
    missing_rate: float = 0.0,
    noise_scale: float = 1.0,
    cue_strength: float = 6.0,
    cue_steps: int = 3,
    dtype: str = "float32",
) -> Dataset:
    """MOSEI's sizes, dims and unaligned lengths (text 50 x 300, audio 500 x 74, vision 500 x 35).

    About 6.4 GB as float32 (``dtype="float16"`` halves it), read lazily from
    HDF5. Audio and vision lengths, cue windows and noise correlation are the
    text's stretched by ``audio_steps / text_steps`` (``vision_steps / text_steps``).
    """
    return _load_mosei("synthetic-mosei", locals())


def load_synthetic_mosei_aligned(
    seed: int = 0,
    n_train: int = 16326,
    n_valid: int = 1871,
    n_test: int = 4659,
    text_steps: int = 60,
    audio_steps: int = 60,
    vision_steps: int = 60,
    text_dim: int = 300,
    audio_dim: int = 74,
    vision_dim: int = 35,
    missing_rate: float = 0.0,
    noise_scale: float = 1.0,
    cue_strength: float = 6.0,
    cue_steps: int = 3,
    dtype: str = "float32",
) -> Dataset:
    """MOSEI's sizes and dims, word-aligned: every modality 60 steps (about 0.9 GB as float32)."""
    return _load_mosei("synthetic-mosei-aligned", locals())


def _load_mosei(name: str, given: dict) -> Dataset:
    params = SyntheticParams(
        name=name, seed=given["seed"], sizes=(given["n_train"], given["n_valid"], given["n_test"]),
        steps={"text": given["text_steps"], "audio": given["audio_steps"], "vision": given["vision_steps"]},
        dims={"text": given["text_dim"], "audio": given["audio_dim"], "vision": given["vision_dim"]},
        missing_rate=given["missing_rate"], noise_scale=given["noise_scale"],
        cue_strength=given["cue_strength"], cue_steps=given["cue_steps"], dtype=given["dtype"],
    )
    return load_params(params, given)
