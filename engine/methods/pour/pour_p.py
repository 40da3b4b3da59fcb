"""POUR-P: closed-form representation unlearning by orthogonal projection (Le et al., CVPR 2026,
arXiv 2511.19339; pour.md "POUR-P").

logits = W (P θ(x)) + b with P = I - w_u w_uᵀ/‖w_u‖², the forget rows of W and their biases set to
zero, and (by default) the forget logits masked. Under neural collapse the retained class means
still form a simplex ETF after the projection (the theorem tested in tests/engine).

``direction="class_mean"`` uses the forget-class feature mean *centred* by the global mean by default
(``centre_mean=True``): neural collapse is stated for centred means, and on ReLU features the
uncentred mean points away from the head row (cos ≈ 0.63 on digits), which breaks the ETF guarantee.
``centre_mean=False`` keeps the uncentred variant (Lethe's earlier default).

Departures: the class-mean direction is centred by default (the spec's notes give it uncentred; the uncentred
mean breaks the ETF guarantee on ReLU features), ``centre_mean = False`` restores it; masking the forget
logits at prediction time is Lethe's choice (on).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from collections.abc import Generator

import numpy as np
import torch
from torch import nn

from engine._core.events import Event, Progress
from engine.live.geometry import interpolate_projection
from engine.methods.base import MethodContext, param
from engine.methods.pour.common import DIRECTIONS, projector, require_class_forgetting
from engine.methods.registry import register
from engine.models.base import LetheModel


@dataclass(frozen=True)
class PourPParams:
    direction: str = param(
        "head", "Forget direction: the classifier row w_u (paper) or the mean forget-class feature.",
        choices=DIRECTIONS,
    )
    centre_mean: bool = param(True, "With direction=class_mean: centre the class mean by the global feature mean.")
    mask_logits: bool = param(True, "Mask the forgotten classes' logits so they can never be predicted.")
    animation_frames: int = param(12, "Geometry frames of the interpolation from the original to the projection.", min=2, max=100)


class ProjectedModel(LetheModel):
    """The original encoder, then P, then the head with forget rows zeroed (a projection layer)."""

    projection: torch.Tensor  # (d, d) buffer

    record_notes = (
        "POUR-P leaves the encoder's weights as they were: representation metrics (RUS, rMIA, CKA, probes) "
        "are measured on the projected features P θ(x), the input of its head (as in the POUR paper).",
    )

    def __init__(self, base: LetheModel, P: torch.Tensor, forget_classes: tuple[int, ...], mask: bool) -> None:
        super().__init__(base.config)
        self.arch = base.arch
        self.encoder = copy.deepcopy(base)  # its own head is unused; kept so the encoder stays intact
        self.encoder.logit_mask = []
        dtype = base.head.weight.dtype
        self.register_buffer("projection", P.to(dtype))  # (d, d)
        head = copy.deepcopy(base.head)
        with torch.no_grad():
            head.weight[list(forget_classes)] = 0.0
            if head.bias is not None:
                head.bias[list(forget_classes)] = 0.0
        self.head: nn.Linear = head
        self.forget_classes = tuple(forget_classes)
        self.logit_mask = sorted(set(base.logit_mask) | (set(forget_classes) if mask else set()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x) @ self.projection  # (N, d); P is symmetric

    def exportable(self) -> LetheModel:
        """Fold P into the head (W <- W P): a plain model of the original architecture, same logits."""
        folded = copy.deepcopy(self.encoder)
        with torch.no_grad():
            folded.head.weight.copy_(self.head.weight @ self.projection)
            if folded.head.bias is not None:
                folded.head.bias.copy_(self.head.bias)
        folded.logit_mask = list(self.logit_mask)
        folded.requires_grad_(True)
        return folded


@register(
    "pour_p",
    PourPParams,
    description="POUR-P: project the forget-class direction out of the features (closed form, instant).",
    kinds=("class",),
    needs=(),
    label="POUR-P",
)
def unlearn(ctx: MethodContext, p: PourPParams) -> Generator[Event, None, LetheModel]:
    classes = require_class_forgetting(ctx, "POUR-P")
    P = projector(ctx, classes, p.direction, p.centre_mean)  # (d, d) float64
    model = ProjectedModel(ctx.original, P, classes, p.mask_logits).to(ctx.device).eval()
    yield Progress("unlearn", 1.0, "projection applied")
    if ctx.probe is not None:
        # Show P_t = I - t·Π for t from 0 to 1 so the forget class visibly folds away.
        # The animation is display, not unlearning: its time goes to ctx.geometry_seconds, kept out
        # of the method's time (so the studio, the CLI and `bench pour` time the same work).
        t0 = time.perf_counter()
        z0 = ctx.probe.original_features.astype(np.float64)  # (N, d)
        pi = np.eye(P.shape[0]) - P.numpy()  # (d, d) projector onto the removed span
        ctx.geometry_seconds += time.perf_counter() - t0
        for i, t in enumerate(np.linspace(0.0, 1.0, p.animation_frames)):
            ctx.token.check()
            t0 = time.perf_counter()
            z_t = interpolate_projection(z0, pi, float(t))
            frame = ctx.probe.frame_from_features(z_t, model, "unlearn", i, float(t))
            ctx.geometry_seconds += time.perf_counter() - t0
            yield frame
    return model
