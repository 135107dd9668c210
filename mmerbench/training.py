"""The torch training loop every deep method shares (a loop, nothing more).

A deep method subclasses :class:`TorchMethod` and implements three things:

- ``build_model(train) -> nn.Module``
- ``training_loss(model, batch, epoch) -> (loss, {term: float})``
- ``forward_proba(model, batch) -> (B, q)`` probabilities (model in eval mode)

and lists the loop's hyperparameters in its own ``__init__`` (``epochs``,
``batch_size``, ``lr``, ``weight_decay``, ``patience``, ``grad_clip``,
``device``, ``random_state``, ``threshold``). The run options ``precision``
(fp32 | bf16 autocast) and ``compile`` (torch.compile) come from the run
(:meth:`TorchMethod.set_run_options`), not from the hyperparameters. The loop
seeds everything, selects the best epoch on validation miF1 (never the test
split), stops early after ``patience`` epochs without improvement, restores
the best weights and records a per-epoch curve in ``fit_info_["curve"]``.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mmerbench import progress
from mmerbench.data.splits import Split
from mmerbench.method import Method


def resolve_device(device: str) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but CUDA is not available; use device='auto' or 'cpu'")
    return resolved


def load_device(requested: str | None, fitted_on: str | None) -> torch.device:
    """Where a loaded model goes: the device asked for, else the one it was fitted on when present, else CPU."""
    if requested is not None:
        return resolve_device(requested)
    if fitted_on:
        fitted = torch.device(fitted_on)
        if fitted.type == "cpu" or (fitted.type == "cuda" and torch.cuda.is_available()
                                    and (fitted.index or 0) < torch.cuda.device_count()):
            return fitted
    return torch.device("cpu")


PRECISIONS = ("fp32", "bf16")
COMPILE_BACKEND = "MMERBENCH_COMPILE_BACKEND"


def compile_backend() -> str:
    """torch.compile's backend: inductor, unless ``MMERBENCH_COMPILE_BACKEND`` names another (the tests use
    "eager", which traces the model as compile does without generating kernels, in a fraction of the time)."""
    return os.environ.get(COMPILE_BACKEND) or "inductor"


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@dataclass
class Batch:
    """One mini-batch as tensors; time is trimmed to the longest sample in the batch."""

    features: dict[str, torch.Tensor]  # modality -> (B, T_m, D_m) float32
    masks: dict[str, torch.Tensor]  # modality -> (B, T_m) bool, True at valid steps
    lengths: dict[str, torch.Tensor]  # modality -> (B,) long
    labels: torch.Tensor  # (B, q) float32
    index: torch.Tensor  # (B,) long: each sample's position in its split
    meta: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def from_split(cls, chunk: Split, indices: np.ndarray, device: torch.device) -> "Batch":
        features, masks, lengths = {}, {}, {}
        for m, array in chunk.features.items():
            length = np.asarray(chunk.lengths[m], dtype=np.int64)
            steps = max(1, int(length.max()) if length.size else 1)
            x = torch.as_tensor(np.ascontiguousarray(array[:, :steps]), dtype=torch.float32)
            mask = torch.arange(steps)[None, :] < torch.as_tensor(length)[:, None]
            # Padded steps are zeroed so no layer can read stale values there.
            features[m] = (x * mask[..., None]).to(device)
            masks[m] = mask.to(device)
            lengths[m] = torch.as_tensor(length).to(device)
        return cls(
            features=features,
            masks=masks,
            lengths=lengths,
            labels=torch.as_tensor(np.asarray(chunk.labels), dtype=torch.float32).to(device),
            index=torch.as_tensor(np.asarray(indices), dtype=torch.long).to(device),
            meta={k: torch.as_tensor(np.asarray(v, dtype=np.float32)).to(device) for k, v in chunk.meta.items()},
        )


class TorchMethod(Method):
    """Base for deep methods; see the module docstring for what to implement."""

    # ---- what subclasses implement -----------------------------------------------------

    def build_model(self, train: Split) -> nn.Module:
        raise NotImplementedError

    def training_loss(self, model: nn.Module, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def forward_proba(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    # ---- optional hooks ----------------------------------------------------------------

    def configure_optimizer(self, model: nn.Module, total_steps: int):
        """Adam with ``lr`` and ``weight_decay``; override for schedules."""
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=getattr(self, "weight_decay", 0.0))
        return optimizer, None

    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        """Called after each training epoch, before validation."""

    def on_fit_start(self, model: nn.Module, train: Split) -> None:
        """Called once the model is built, before the first epoch."""

    # ---- the loop ----------------------------------------------------------------------

    # ---- run options: precision and compile (``mmerbench run --precision bf16 --compile``) ------------

    # The run options this loop honours (a capability the planner reads: only these enter a job's key).
    run_options = ("precision", "compile")
    _precision = "fp32"
    _compile = False

    def set_run_options(self, precision: str = "fp32", compile: bool = False) -> "TorchMethod":
        """How to compute, not what: bfloat16 autocast (``precision="bf16"``) and ``torch.compile``.

        They change the numbers a little, so the planner keys them when they are not the default; they are
        not hyperparameters (a method's ``get_params`` does not list them).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not valid: use one of {', '.join(PRECISIONS)}")
        self._precision, self._compile = precision, bool(compile)
        return self

    # ---- the loop ----------------------------------------------------------------------

    def _start_fit(self, train: Split):
        """Seed, pick the device, build the model and its optimiser: ``(model, optimizer, scheduler)``.

        ``model`` is the plain module (``model_``, checkpoints and saved weights use its state_dict);
        with ``compile`` on, :meth:`_train_step` runs ``training_loss`` on a compiled view of it.
        """
        seed_everything(int(self.random_state))
        self.device_ = resolve_device(getattr(self, "device", "auto"))
        model = self.build_model(train).to(self.device_)
        self.model_ = model
        self.on_fit_start(model, train)
        steps_per_epoch = math.ceil(len(train) / int(self.batch_size))
        optimizer, scheduler = self.configure_optimizer(model, steps_per_epoch * int(self.epochs))
        # A compiled module's state_dict prefixes every key with ``_orig_mod.``: it is only ever stepped through.
        self._stepped = (model, torch.compile(model, backend=compile_backend()) if self._compile else model)
        return model, optimizer, scheduler

    def _train_step(self, model: nn.Module, batch: Batch, optimizer, scheduler, epoch: int
                    ) -> tuple[torch.Tensor, dict[str, float]]:
        """One optimiser step on ``batch``: loss under the run's precision, backward, clip, step."""
        stepped = self._stepped[1] if getattr(self, "_stepped", (None,))[0] is model else model
        with self._autocast():
            loss, terms = self.training_loss(stepped, batch, epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = getattr(self, "grad_clip", None)
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), float(clip))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return loss, terms

    def _fit(self, train: Split, valid: Split | None) -> None:
        model, optimizer, scheduler = self._start_fit(train)
        batch_size = int(self.batch_size)
        shuffler = np.random.default_rng(int(self.random_state))
        patience = getattr(self, "patience", None)
        best_score, best_state, best_epoch, waited = -math.inf, None, 0, 0
        curve: list[dict[str, Any]] = []
        checkpoints = getattr(self, "_checkpoints", None)  # set by the runner's worker (mmerbench.execution.checkpoints)
        first_epoch = 1
        saved = checkpoints.load(epochs=int(self.epochs)) if checkpoints is not None else None
        if saved is not None:
            restored = checkpoints.restore(saved, model=model, optimizer=optimizer, scheduler=scheduler,
                                           shuffler=shuffler, method=self)
            loop, curve, best_state = restored["loop"], restored["curve"], restored["best_state"]
            best_score, best_epoch, waited = loop["best_score"], loop["best_epoch"], loop["waited"]
            first_epoch = int(saved["epoch"]) + 1
            self.fit_info_["resumed_from_epoch"] = int(saved["epoch"])
            progress.report(kind="resumed", resumed_from_epoch=int(saved["epoch"]), epochs=int(self.epochs))
            if loop["stopped"]:  # the checkpoint was taken at the early stop: nothing left to train
                first_epoch = int(self.epochs) + 1
        for epoch in range(first_epoch, int(self.epochs) + 1):
            started = time.perf_counter()
            model.train()
            sums: dict[str, float] = {}
            seen = 0
            for indices, chunk in train.batches(batch_size, shuffler.permutation(len(train))):
                batch = Batch.from_split(chunk, indices, self.device_)
                loss, terms = self._train_step(model, batch, optimizer, scheduler, epoch)
                seen += len(batch)
                for key, value in {"loss": float(loss.detach()), **terms}.items():
                    sums[key] = sums.get(key, 0.0) + float(value) * len(batch)
            self.on_epoch_end(model, epoch)
            row = {"epoch": epoch, **{f"train_{k}": v / max(seen, 1) for k, v in sums.items()}}
            if valid is not None:
                proba = self._proba_with(model, valid)
                row["valid_mif1"] = self.selection_score(proba, valid.labels)
                if row["valid_mif1"] > best_score:
                    best_score, best_epoch, waited = row["valid_mif1"], epoch, 0
                    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                else:
                    waited += 1
            row["seconds"] = time.perf_counter() - started
            curve.append(row)
            progress.report(kind="epoch", epoch=epoch, epochs=int(self.epochs),
                            valid_threshold=self.fixed_threshold() or 0.5, **{
                k: v for k, v in row.items() if k in ("train_loss", "valid_mif1", "seconds")})
            stop = valid is not None and bool(patience) and waited >= int(patience)
            if checkpoints is not None:
                checkpoints.save(epoch, model=model, optimizer=optimizer, scheduler=scheduler, shuffler=shuffler,
                                 loop={"best_score": best_score, "best_epoch": best_epoch, "waited": waited,
                                       "stopped": stop},
                                 curve=curve, best_state=best_state, extra=self.extra_state())
            if stop:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        self._stepped = None  # the compiled view is a training detail (and holds compiled graphs)
        self.fit_info_.update(
            curve=curve,
            best_epoch=best_epoch if valid is not None else len(curve),
            best_valid_mif1=best_score if valid is not None else None,
            epochs_run=len(curve),
            device=str(self.device_),
            selection="best epoch on validation miF1" if valid is not None else "last epoch (no validation split)",
            parameters=sum(p.numel() for p in model.parameters()),
            precision=self._autocast_precision(),
            compiled=bool(self._compile),
        )

    def _autocast_precision(self) -> str:
        # ``amp=True`` (an older hyperparameter of some methods, kept so their keys stay) means bf16 on CUDA.
        if self._precision == "fp32" and getattr(self, "amp", False) and self.device_.type == "cuda":
            return "bf16"
        return self._precision

    def _autocast(self):
        """The forward passes' autocast: bfloat16 under ``precision="bf16"`` (on CUDA and on the CPU), else off."""
        if self._autocast_precision() == "bf16":
            return torch.autocast(self.device_.type, dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    @torch.no_grad()
    def _proba_with(self, model: nn.Module, split: Split) -> np.ndarray:
        model.eval()
        outputs = []
        for indices, chunk in split.batches(int(getattr(self, "eval_batch_size", None) or self.batch_size)):
            batch = Batch.from_split(chunk, indices, self.device_)
            with self._autocast():
                outputs.append(self.forward_proba(model, batch).float().cpu().numpy())
        model.train()
        if not outputs:
            return np.zeros((0, split.n_labels))
        return np.clip(np.concatenate(outputs), 0.0, 1.0)

    def _predict_proba(self, split: Split) -> np.ndarray:
        return self._proba_with(self.model_, split)

    # ---- saved models (docs/saved-models.md) ---------------------------------------------

    def _save_fitted(self, directory) -> None:
        from mmerbench.io.model_files import write_torch_weights
        from mmerbench.saved_models import WEIGHTS

        write_torch_weights(Path(directory) / WEIGHTS, self.model_)

    def _load_fitted(self, directory, device: str | None) -> None:
        from mmerbench.io.model_files import ModelFileError, read_torch_weights
        from mmerbench.saved_models import WEIGHTS, schema_split

        schema = getattr(self, "train_schema_", None)
        if schema is None:
            raise ModelFileError(f"{directory}: the manifest has no train_schema, so the network cannot be rebuilt")
        self.device_ = load_device(device, self.fit_info_.get("device"))
        if self.fit_info_.get("precision") in PRECISIONS:  # predict as it was fitted (and scored)
            self._precision = self.fit_info_["precision"]
        model = self.build_model(schema_split(schema)).to(self.device_)
        read_torch_weights(Path(directory) / WEIGHTS, model, self.device_)
        model.eval()
        self.model_ = model
