"""Natural-image memorisation and completion on CIFAR-10 (Miconi et al. 2018, section 4.3).

Each episode shows ``n_images`` grayscale 32x32 images, each for ``steps_per_image`` steps followed by
``gap_steps`` zero steps, ``n_presentations`` times (every cycle in a fresh random order); then one of them with
its top or bottom half (p = 0.5) zeroed is shown for ``test_steps`` steps. The network (1024 pixel neurons +
1 bias neuron, hard clamping: ``PlasticRecurrentNet(coupling="clamp")``) must output the whole image at the
final step. Loss: sum of squared errors over the 1024 pixels at the final step (mean over episodes).

Variants (benchmarks/protocols.md): ``code`` = reference code (2-step gaps, 3-step test: T = 201; grayscale
R+G+B minus its mean, divided by its max |value|), ``paper`` = paper text (3-step gaps; grayscale in [0, 1]; the
text gives no test duration: 3 steps). Training episodes use the five training batches, held-out episodes the
test batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.data.cifar10 import load_cifar10
from benchmarks.tasks.base import MEMORY_BOUND_NEURONS, Episode, SequenceTask

PREPROCESS = ("code", "paper")
SIDE = 32


@dataclass(frozen=True)
class ImageMemoryConfig:
    n_images: int = 3  # images stored per episode
    n_presentations: int = 3  # times each image is shown, each cycle in a fresh random order
    steps_per_image: int = 20  # steps each presentation lasts
    gap_steps: int = 2  # zero steps after each presentation (code 2, paper 3)
    test_steps: int = 3  # steps the half-zeroed test image is shown
    preprocess: str = "code"  # code: R+G+B, zero mean, / max|value| (in [-1, 1]) | paper: gray in [0, 1]
    download: bool = False  # when no copy is found, let torchvision download the official archive (internet)

    def __post_init__(self) -> None:
        for key in ("n_images", "n_presentations", "steps_per_image", "test_steps"):
            if getattr(self, key) < 1:
                raise ValueError(f"task.{key}={getattr(self, key)} must be >= 1")
        if self.gap_steps < 0:
            raise ValueError(f"task.gap_steps={self.gap_steps} must be >= 0")
        if self.preprocess not in PREPROCESS:
            raise ValueError(f"task.preprocess={self.preprocess!r} is not one of {PREPROCESS}")

    @property
    def n_steps(self) -> int:
        return self.n_presentations * self.n_images * (self.steps_per_image + self.gap_steps) + self.test_steps


def grayscale(images: Tensor, preprocess: str) -> Tensor:
    """(N, 3, 32, 32) uint8 -> (N, 1024) float: the one conversion for training and held-out images."""
    gray = images.float().sum(dim=1).flatten(1)  # R + G + B: (N, 1024)
    if preprocess == "paper":
        return gray / (3 * 255.0)
    gray = gray - gray.mean(dim=1, keepdim=True)
    return gray / gray.abs().amax(dim=1, keepdim=True).clamp(min=1e-8)


def make_episodes(images: Tensor, config: ImageMemoryConfig, generator: torch.Generator) -> Episode:
    """images: (B, n_images, 1024) preprocessed -> inputs (T, B, 1024), targets (B, 1024)."""
    c, batch = config, images.shape[0]
    rows = torch.arange(batch)
    inputs = images.new_zeros(c.n_steps, batch, SIDE * SIDE)
    block = c.steps_per_image + c.gap_steps
    for cycle in range(c.n_presentations):
        order = torch.rand(batch, c.n_images, generator=generator).argsort(dim=-1)  # (B, n_images)
        for slot in range(c.n_images):
            start = (cycle * c.n_images + slot) * block
            inputs[start: start + c.steps_per_image] = images[rows, order[:, slot]]
    which = torch.randint(0, c.n_images, (batch,), generator=generator)
    target = images[rows, which]  # (B, 1024)
    bottom = torch.randint(0, 2, (batch,), generator=generator).bool()  # zero the bottom half, else the top
    pixel_row = torch.arange(SIDE).repeat_interleave(SIDE)  # (1024,): image row of each pixel
    zeroed = (pixel_row >= SIDE // 2).unsqueeze(0) == bottom.unsqueeze(1)  # (B, 1024)
    inputs[-c.test_steps:] = target.masked_fill(zeroed, 0.0)
    return Episode(inputs=inputs, targets=target, extras={"zeroed": zeroed})


class ImageMemory(SequenceTask):
    primary_metric = "loss"
    lower_is_better = True

    name = "image_memory"

    @classmethod
    def memory_bound(cls, config: ImageMemoryConfig) -> bool:
        return SIDE * SIDE >= MEMORY_BOUND_NEURONS  # one neuron per pixel

    def __init__(self, config: ImageMemoryConfig, name: str | None = None, data_dir: str | None = None) -> None:
        super().__init__(config, name)
        data = load_cifar10(data_dir, config.download)  # DataUnavailable when absent
        self.train_images, self.test_images = data.train_images, data.test_images
        self.digest, self.data_info = data.digest, {"data_source": data.source, "data_copy": data.copy,
                                                   "member_md5": data.member_md5}

    def model_io(self) -> dict[str, Any]:
        return {"input_size": SIDE * SIDE, "output_size": SIDE * SIDE}

    def _sample(self, pool: Tensor, batch_size: int, generator: torch.Generator) -> Episode:
        picked = torch.multinomial(torch.ones(batch_size, len(pool)), self.config.n_images, generator=generator)
        images = grayscale(pool[picked.flatten()], self.config.preprocess)  # (B * n_images, 1024)
        return make_episodes(images.view(batch_size, self.config.n_images, -1), self.config, generator)

    def sample(self, batch_size: int, generator: torch.Generator) -> Episode:
        """Training episodes: images from data_batch_1..5."""
        return self._sample(self.train_images, batch_size, generator)

    def sample_eval(self, batch_size: int, generator: torch.Generator) -> Episode:
        """Held-out episodes: images from test_batch only."""
        return self._sample(self.test_images, batch_size, generator)

    def loss(self, outputs: Tensor, episode: Episode) -> Tensor:
        """Sum of squared errors over the 1024 pixels at the final step, averaged over episodes."""
        return ((outputs[-1] - episode.targets) ** 2).sum(dim=-1).mean()

    def metrics(self, outputs: Tensor, episode: Episode) -> dict[str, float]:
        err = (outputs[-1] - episode.targets) ** 2  # (B, 1024)
        zeroed = episode.extras["zeroed"]
        return {"loss_zeroed_half": (err * zeroed).sum(dim=-1).mean().item()}

    def data_digest(self) -> str:
        return f"cifar-10-batches-py:sha256:{self.digest}"

    def record_extra(self, model: nn.Module) -> dict[str, Any]:
        """The data's provenance and the data of the report's figures. Memory per update is recorded for every
        task by the harness (``extra.memory``, ``benchmarks.harness.memory``)."""
        return {**self.data_info, "n_steps": self.config.n_steps, "figure": self.figure_data(model)}

    @staticmethod
    def report_figures(records: list[Any], out_dir: str | Path) -> list[Path]:
        return report_figures(records, out_dir)

    def figure_data(self, model: nn.Module, n_episodes: int = 2, crop: int = 64) -> dict[str, Any]:
        """Held-out episodes (shown images, probe, output at the last step) and the top-left ``crop`` x ``crop``
        corner of ``w`` and ``alpha`` (pixel rows 0-1: the +-1 and +-32 neighbour bands), rounded for JSON."""
        episode = self.sample_eval(n_episodes, torch.Generator().manual_seed(0))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            outputs, _ = model(episode.inputs.to(next(model.parameters()).device))
        model.train(was_training)
        block = self.config.steps_per_image + self.config.gap_steps
        shown = episode.inputs[0: self.config.n_images * block: block]  # (n_images, B, 1024): first cycle
        data = {"shown": _round(shown.transpose(0, 1)), "probe": _round(episode.inputs[-1]),
                "output": _round(outputs[-1]), "target": _round(episode.targets)}
        for name in ("w", "alpha"):
            weight = getattr(model, name, None)
            if isinstance(weight, Tensor) and weight.dim() == 2:
                data[name] = _round(weight[:crop, :crop])
            elif isinstance(weight, Tensor):
                data[name] = _round(weight)
        return data


def _round(x: Tensor) -> list:
    return torch.round(x.detach().float().cpu() * 1000).div(1000).tolist()


def report_figures(records: list[Any], out_dir: str | Path) -> list[Path]:
    """Paper Fig. 4a/4b for each (task, model) of this kind: held-out reconstructions (shown images, degraded
    probe, network output) and the learned w / alpha corners, from the first seed's figure data."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from benchmarks.harness.atomic import atomic_savefig

    out, paths, seen = Path(out_dir), [], set()
    out.mkdir(parents=True, exist_ok=True)
    for record in sorted(records, key=lambda r: (r.task, r.model, r.seed)):
        data = record.extra.get("figure") if record.status == "ok" else None
        if not data or (record.task, record.model) in seen:
            continue
        seen.add((record.task, record.model))
        figures = {"reconstructions": _reconstruction_figure(plt, data),
                   "weights": _weights_figure(plt, data)}
        for kind, fig in figures.items():
            if fig is not None:
                fig.suptitle(f"{record.task} / {record.model} (seed {record.seed})", fontsize=9, y=1.06)
                paths.append(out / f"{record.task}_{record.model}_{kind}.png")
                atomic_savefig(fig, paths[-1], dpi=120, bbox_inches="tight")
                plt.close(fig)
    return paths


def _reconstruction_figure(plt: Any, data: dict[str, Any]) -> Any:
    rows, shown = len(data["probe"]), len(data["shown"][0])
    fig, axes = plt.subplots(rows, shown + 2, figsize=(1.6 * (shown + 2), 1.7 * rows), squeeze=False)
    titles = [f"shown {i + 1}" for i in range(shown)] + ["test (half zeroed)", "output"]
    for r in range(rows):
        lo, hi = float(np.min(data["shown"][r])), float(np.max(data["shown"][r]))  # one gray scale per row
        for c, panel in enumerate([*data["shown"][r], data["probe"][r], data["output"][r]]):
            axes[r, c].imshow(np.asarray(panel).reshape(SIDE, SIDE), cmap="gray", vmin=lo, vmax=hi)
            axes[r, c].set_title(titles[c], fontsize=7)
            axes[r, c].axis("off")
    return fig


def _shared_alpha(data: dict[str, Any]) -> float | None:
    """The one learned alpha of a shared-alpha model (stored as a number or a one-element list)."""
    alpha = data.get("alpha")
    flat = np.asarray(alpha, dtype=float).ravel() if alpha is not None else np.empty(0)
    return float(flat[0]) if flat.size == 1 else None


def _weights_figure(plt: Any, data: dict[str, Any]) -> Any:
    """w and (per-connection) alpha as images with colour bars centred on 0; a shared alpha's value in the title;
    None for models without such matrices."""
    matrices = [(k, data[k]) for k in ("w", "alpha") if isinstance(data.get(k), list) and len(data[k]) > 1]
    if not matrices:
        return None
    shared = _shared_alpha(data)
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.8 * len(matrices), 3.4), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices):
        values = np.asarray(matrix, dtype=float)
        bound = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        title = f"{name} (first {len(matrix)} neurons)"
        if name == "w" and shared is not None:
            title += f"\nshared alpha = {shared:.4g} (one value for every connection)"
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    return fig
