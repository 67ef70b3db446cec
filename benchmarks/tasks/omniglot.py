"""Omniglot 5-way 1-shot classification (Miconi et al. 2018, section 4.4).

An episode: ``n_way`` classes drawn from one side of the class split, one labelled drawing of each shown in a
random order (labels 0..K-1 belong to the classes, not to the positions), then one unlabelled drawing of one of
them, different from its labelled drawing. Score: the argmax at the query is the right label.

Every model sees the same episodes, the same backbone (``plastic.conv.ConvBackbone``) and the same image
pipeline: the cached uint8 images (31x31), rotated per class by a random multiple of 90 degrees (redrawn each
episode; held-out episodes too, as the reference's test script does), scaled by ``to_unit`` (/255, the one
function used for training and held-out episodes alike).

Splits. ``paper``: the 964 + 659 classes merged (background then evaluation, each sorted by path), shuffled with
``split_seed``; the first ``n_test_classes`` of the shuffle are held out. ``standard``: background classes for
training, evaluation classes for testing. The held-out classes depend on the split settings only, never on the
run seed or the model. Training episodes come from ``sample``, held-out ones from ``sample_eval``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from benchmarks.data.omniglot import DRAWINGS, REFERENCE_DIGESTS, check_resize, load_omniglot
from benchmarks.harness.adapters import SequenceFewShot, describe
from benchmarks.harness.models import build_model, family_of
from benchmarks.tasks.base import Task
from plastic import ConvBackbone, PlasticFewShotClassifier, conv_output_side

SPLITS = ("paper", "standard")


@dataclass(frozen=True)
class OmniglotConfig:
    split: str = "paper"  # paper: 1,623 classes merged, n_test_classes held out by a seeded shuffle | standard
    split_seed: int = 0  # seed of the paper split's shuffle; the held-out classes depend on it alone
    n_test_classes: int = 100  # held-out classes of the paper split (the paper: 100, leaving 1,523 for training)
    n_way: int = 5  # classes per episode (one labelled drawing each)
    image_size: int = 31  # side after resizing the 105x105 drawings (31 -> 15 -> 7 -> 3 -> 1 through the convs)
    rotate_train: bool = True  # paper augmentation: per class a random multiple of 90 degrees, every episode
    rotate_test: bool = True  # the same rotation on held-out episodes (as the reference's test script does)
    invert: bool = True  # ink = 1, background = 0 (the PNGs are black on white)
    resize: str = "lanczos"  # lanczos (anti-aliased) | bilinear: sampled without anti-aliasing, as the authors' script
    download: bool = False  # when no copy is found, let torchvision download the official zips (needs internet)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"task.split={self.split!r} is not one of {SPLITS}")
        if not 0 < self.n_test_classes < 1623 - self.n_way:
            raise ValueError(f"task.n_test_classes={self.n_test_classes} must lie in [1, {1622 - self.n_way}]")
        if self.n_way < 2:
            raise ValueError(f"task.n_way={self.n_way} must be >= 2")
        check_resize(self.resize)
        if conv_output_side(self.image_size) < 1:
            raise ValueError(f"task.image_size={self.image_size} is too small for the 4-conv backbone (use 31)")


@dataclass
class FewShotBatch:
    support: Tensor  # (B, K, 1, S, S) float in [0, 1], in presentation order
    support_labels: Tensor  # (B, K) long: the label of each shown drawing
    query: Tensor  # (B, 1, 1, S, S)
    query_labels: Tensor  # (B, 1) long
    classes: Tensor  # (B, K) long: dataset class of label k (for audits and tests)

    @property
    def batch_size(self) -> int:
        return self.support.shape[0]


def class_split(classes: list[str], split: str, split_seed: int, n_test: int) -> tuple[Tensor, Tensor]:
    """(train class indices, test class indices), both sorted; a function of its arguments only."""
    if split == "standard":
        background = torch.tensor([name.startswith("images_background/") for name in classes])
        return background.nonzero().squeeze(1), (~background).nonzero().squeeze(1)
    order = torch.randperm(len(classes), generator=torch.Generator().manual_seed(split_seed))
    return order[n_test:].sort().values, order[:n_test].sort().values


def to_unit(images: Tensor, invert: bool) -> Tensor:
    """uint8 -> float in [0, 1]: the only scaling, shared by training and held-out episodes."""
    unit = images.float() / 255.0
    return 1.0 - unit if invert else unit


def rotate_quarters(images: Tensor, quarters: Tensor) -> Tensor:
    """images (..., S, S) each turned by its own ``quarters`` (same leading shape) x 90 degrees."""
    out = images.clone()
    for k in (1, 2, 3):
        chosen = quarters == k
        out[chosen] = torch.rot90(images[chosen], k, dims=(-2, -1))
    return out


def sample_episodes(images: Tensor, pool: Tensor, batch: int, n_way: int, rotate: bool, invert: bool,
                    generator: torch.Generator) -> FewShotBatch:
    """B episodes at once from the classes in ``pool``; images: (C, 20, S, S) uint8."""
    picked = torch.multinomial(torch.ones(batch, len(pool)), n_way, generator=generator)  # (B, K) distinct
    classes = pool[picked]  # (B, K): class of label k
    drawn = torch.rand(batch, n_way, DRAWINGS, generator=generator).argsort(-1)[..., :2]  # (B, K, 2) distinct
    quarters = torch.randint(0, 4, (batch, n_way), generator=generator) if rotate \
        else torch.zeros(batch, n_way, dtype=torch.long)
    order = torch.rand(batch, n_way, generator=generator).argsort(-1)  # (B, K): label shown at each position
    target = torch.randint(0, n_way, (batch,), generator=generator)  # (B,): label of the query
    rows = torch.arange(batch).unsqueeze(1)
    support = rotate_quarters(images[classes, drawn[..., 0]], quarters)[rows, order]  # (B, K, S, S)
    query_class, query_drawing = classes[torch.arange(batch), target], drawn[torch.arange(batch), target, 1]
    query = rotate_quarters(images[query_class, query_drawing], quarters[torch.arange(batch), target])
    return FewShotBatch(support=to_unit(support, invert).unsqueeze(2), support_labels=order,
                        query=to_unit(query, invert)[:, None, None], query_labels=target.unsqueeze(1),
                        classes=classes)


class Omniglot(Task):
    name = "omniglot"
    primary_metric = "accuracy"
    lower_is_better = False
    model_kinds = ("fewshot", "head", "sequence")  # a sequence model runs on the backbone (harness.adapters)
    reads_backbone_init = True  # the backbone under a head or sequence model; fewshot models build their own

    def __init__(self, config: OmniglotConfig, name: str | None = None, data_dir: str | None = None) -> None:
        super().__init__(config, name)
        data = load_omniglot(data_dir, config.image_size, config.download, config.resize)  # DataUnavailable when absent
        self.images, self.classes = data.images, data.classes
        self.digests, self.sources = data.digests, data.sources
        self.train_classes, self.test_classes = class_split(self.classes, config.split, config.split_seed,
                                                            config.n_test_classes)

    def model_io(self) -> dict[str, Any]:
        return {"input_size": self.config.image_size, "output_size": self.config.n_way}

    def sample(self, batch_size: int, generator: torch.Generator) -> FewShotBatch:
        """Training episodes (training classes)."""
        c = self.config
        return sample_episodes(self.images, self.train_classes, batch_size, c.n_way, c.rotate_train, c.invert,
                               generator)

    def sample_eval(self, batch_size: int, generator: torch.Generator) -> FewShotBatch:
        """Held-out episodes (test classes), for the harness's fixed evaluation pool."""
        c = self.config
        return sample_episodes(self.images, self.test_classes, batch_size, c.n_way, c.rotate_test, c.invert,
                               generator)

    def build_model(self, model_cfg: dict[str, Any]) -> nn.Module:
        """A ``fewshot`` classifier gets (image side, n_way); a plastic ``head`` goes on the conv backbone; a
        ``sequence`` model reads [features, one-hot label] per image on that backbone (``SequenceFewShot``)."""
        kind = family_of(model_cfg).kind
        if kind == "fewshot":
            return super().build_model(model_cfg)  # builds its own backbone (config checks refuse backbone_init)
        side = self.config.image_size
        backbone = ConvBackbone(side, init=model_cfg.get("backbone_init") or "glorot")
        if kind == "sequence":
            n_way = self.config.n_way
            sequence = build_model(model_cfg, {"input_size": backbone.feature_size + n_way, "output_size": n_way},
                                   self.model_kinds, f"task {self.name!r}")
            return SequenceFewShot(backbone, sequence, n_way)
        head = build_model(model_cfg, {"in_features": backbone.feature_size, "out_features": self.config.n_way},
                           self.model_kinds, f"task {self.name!r}")
        return PlasticFewShotClassifier(backbone, head, (1, side, side))

    def episode_loss(self, model: nn.Module, batch: FewShotBatch) -> tuple[Tensor, dict[str, float]]:
        log_probs = model.classify(batch.support, batch.support_labels, batch.query)  # (B, 1, K)
        if model.loss_kind == "bce":  # Miconi: BCE of the softmax against the one-hot target
            loss = F.binary_cross_entropy(log_probs.exp(), F.one_hot(batch.query_labels, self.config.n_way).float())
        else:
            loss = F.nll_loss(log_probs.flatten(0, 1), batch.query_labels.flatten())
        with torch.no_grad():
            accuracy = (log_probs.argmax(-1) == batch.query_labels).float().mean().item()
        return loss, {"loss": loss.item(), "accuracy": accuracy}

    def data_digest(self) -> str:
        return ";".join(f"{part}:sha256:{digest}" for part, digest in self.digests.items())

    def record_extra(self, model: nn.Module) -> dict[str, Any]:
        test_names = "\n".join(self.classes[i] for i in self.test_classes.tolist())
        return {"split": self.config.split, "split_seed": self.config.split_seed,
                "n_train_classes": len(self.train_classes), "n_test_classes": len(self.test_classes),
                "test_classes_sha256": hashlib.sha256(test_names.encode()).hexdigest(),
                "queries_per_episode": 1, "data_sources": self.sources,
                "data_matches_reference": self.digests == REFERENCE_DIGESTS, **describe(model)}
