"""LAF — Label-Agnostic Forgetting (Shen et al., ICLR 2024, arXiv 2404.00506; methods.md A14;
``ShaofeiShen768/LAF/{VUnlearning,Train,Model}.py``, ``hyperparameter.md``). Uses no labels.

Embeddings e = the penultimate features of the model (Lethe's ``features(x)``).
1. Two VAEs on embeddings of the frozen original (d → 128 → 32 → latent 16, mirrored decoder; loss
   MSE_sum/B + 0.025·KLD/B; Adam 1e-3, 10 epochs): s_vae on all of D, u_vae on D_f.
2. Per zipped (forget, retain) batch pair, two alternating steps on the feature extractor:
   (1) extractor unlearning, Adam lr_UE: L1 = Σ_r exp(m_r/(m_r+1)) − Σ_f exp(m_f/(m_f+1)), with m the
       per-sample squared reconstruction error of the current embedding by s_vae (retain) or
       u_vae (forget);
   (2) representation alignment, Adam lr_RA: L2 = Σ_r log(exp(c_r) / Σ_f exp(c_f/temp)), with
       c = 1 − cos(e_current, e_original).
The head is not trained (LAF without "+R"). Defaults (ResNet/CIFAR-10): latent 16, 40 epochs,
lr_UE 1e-5, lr_RA 5e-5 (class) or 4e-5 (random), temp 20, batch 32. BatchNorm statistics are kept
frozen (Lethe's choice: forget-only batches would otherwise shift them).

Digits scale (cnn_small; the ``small`` preset): 10 epochs, lr_UE 2e-4, lr_RA 2e-3 (forget 0.05, retain 0.99); lr_UE 1e-4 does
nothing and 1e-3 collapses the features.

Departures: embeddings are Lethe's penultimate ``features(x)`` (the reference adds a 256-d fc1 layer);
BatchNorm statistics stay frozen (forget-only batches would shift them); LAF+R (fine-tuning the head) is not
offered.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine._core.events import Event, Progress
from engine.train.features import extract
from engine.methods._loops import optimise
from engine.methods.base import MethodContext, param
from engine.methods.registry import register
from engine.models.base import LetheModel
from engine.train.loop import IndexBatches, OptimSpec, Phase, Zipped, forever, phased


@dataclass(frozen=True)
class LAFParams:
    epochs: int = param(40, "Epochs of min(|D_f|, |D_r|)/batch zipped batch pairs (two steps each).", min=1, max=1000)
    lr_ue: float = param(1e-5, "Adam learning rate of the extractor-unlearning step (digits cnn_small: 2e-4).", min=1e-8, max=1.0)
    lr_ra: float = param(
        0.0, "Adam learning rate of the representation-alignment step (0 = paper: 5e-5 class, 4e-5 sample; digits: 2e-3).", min=0.0, max=1.0
    )
    temperature: float = param(20.0, "Temperature of the forget term in the alignment loss.", min=0.01, max=1000.0)
    batch_size: int = param(32, "Forget and retain images per batch.", min=2, max=4096)
    latent: int = param(16, "VAE latent dimension.", min=2, max=1024)
    vae_epochs: int = param(10, "Epochs of each VAE's training.", min=1, max=1000)
    vae_lr: float = param(1e-3, "Adam learning rate of the VAEs.", min=1e-6, max=1.0)


class EmbeddingVAE(nn.Module):
    """d → 128 → 32 → (μ, log σ²) of size ``latent``; mirrored decoder."""

    def __init__(self, d: int, latent: int) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU())
        self.mu, self.logvar = nn.Linear(32, latent), nn.Linear(32, latent)
        self.dec = nn.Sequential(nn.Linear(latent, 32), nn.ReLU(), nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, d))

    def forward(self, e: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.enc(e)  # (B, 32)
        mu, logvar = self.mu(h), self.logvar(h)  # (B, latent)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.dec(z), mu, logvar

    def error(self, e: torch.Tensor) -> torch.Tensor:
        """(B,) squared reconstruction error of ``e`` through the mean latent."""
        return (self.forward(e, sample=False)[0] - e).pow(2).sum(1)


def train_vae(
    ctx: MethodContext, e: torch.Tensor, p: LAFParams, seed: int
) -> Generator[Event, None, EmbeddingVAE]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = EmbeddingVAE(e.shape[1], p.latent).to(ctx.device)

    def loss(idx: np.ndarray) -> torch.Tensor:
        eb = e[torch.as_tensor(idx, device=ctx.device)]
        rec, mu, logvar = vae(eb)
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (F.mse_loss(rec, eb, reduction="sum") + 0.025 * kld) / len(eb)

    adam = OptimSpec("adam", lr=p.vae_lr, epochs=p.vae_epochs)
    yield from optimise(ctx, vae, [Phase(loss, IndexBatches(len(e), p.batch_size, seed), adam)], live=False)
    return vae.eval().requires_grad_(False)


@register(
    "laf",
    LAFParams,
    description="LAF: label-free; push forget embeddings off their VAE manifold while keeping retain embeddings aligned.",
    needs=("forget", "retain"),
    label="LAF",
    presets={"small": {"epochs": 10, "lr_ue": 2e-4, "lr_ra": 2e-3}},
)
def unlearn(ctx: MethodContext, p: LAFParams) -> Generator[Event, None, LetheModel]:
    b = ctx.bundle
    feats = extract(ctx.original, b.x_train, b.mean, b.std, device=ctx.device, token=ctx.token).features
    e_all = torch.as_tensor(feats, device=ctx.device)  # (N, d)
    e_f0, e_r0 = e_all[torch.as_tensor(ctx.split.forget_idx)], e_all[torch.as_tensor(ctx.split.retain_idx)]
    s_vae = yield from phased(train_vae(ctx, e_all, p, ctx.seed), 0.0, 0.1)
    u_vae = yield from phased(train_vae(ctx, e_f0, p, ctx.seed + 1), 0.1, 0.15)

    model = ctx.copy_original()
    model.head.requires_grad_(False)  # label-agnostic: only the extractor moves
    x_f, x_r = ctx.x_forget, ctx.x_retain

    def unlearn_extractor(pair: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:  # (1)
        m_f = u_vae.error(model.features(ctx.normalise(x_f[pair[0]])))  # (B_f,)
        m_r = s_vae.error(model.features(ctx.normalise(x_r[pair[1]])))  # (B_r,)
        return torch.exp(m_r / (m_r + 1)).sum() - torch.exp(m_f / (m_f + 1)).sum()

    def align(pair: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:  # (2), on the same pair
        e_f = model.features(ctx.normalise(x_f[pair[0]]))
        e_r = model.features(ctx.normalise(x_r[pair[1]]))
        c_f = 1 - F.cosine_similarity(e_f, e_f0[torch.as_tensor(pair[0], device=ctx.device)], dim=1)  # (B_f,)
        c_r = 1 - F.cosine_similarity(e_r, e_r0[torch.as_tensor(pair[1], device=ctx.device)], dim=1)  # (B_r,)
        return (c_r - torch.logsumexp(c_f / p.temperature, 0)).sum()

    # Per zipped (forget, retain) batch pair: a step of the extractor-unlearning Adam, then one of the
    # alignment Adam (two optimisers, each keeping its moments across pairs).
    n_pairs = max(1, -(-min(len(x_f), len(x_r)) // p.batch_size)) * p.epochs
    pairs = Zipped(IndexBatches(len(x_f), p.batch_size, ctx.seed), IndexBatches(len(x_r), p.batch_size, ctx.seed + 1))
    ue = OptimSpec("adam", lr=p.lr_ue)
    ra = OptimSpec("adam", lr=p.lr_ra or (5e-5 if ctx.split.kind == "class" else 4e-5))
    phases: list[Phase[tuple[np.ndarray, np.ndarray]]] = []
    for pair in islice(forever(pairs), n_pairs):
        phases += [Phase(unlearn_extractor, [pair], ue, slot="ue"), Phase(align, [pair], ra, slot="ra")]
    yield Progress("unlearn", 0.15, "unlearning the extractor")
    yield from phased(optimise(ctx, model, phases, mode="frozen_bn"), 0.15, 1.0)
    model.head.requires_grad_(True)
    return model
