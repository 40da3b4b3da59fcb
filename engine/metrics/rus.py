"""Representation Unlearning Score (RUS) of the POUR paper (Le et al., arXiv 2511.19339).

Against the original model o (pour.md "RUS"):
    Φ_f = 1 − CKA(Z_u(D_f), Z_o(D_f)),   CKA_r = CKA(Z_u(D_r), Z_o(D_r));
against the retrained model r:
    Φ_f = CKA(Z_u(D_f), Z_r(D_f)),       CKA_r = CKA(Z_u(D_r), Z_r(D_r));
and in both cases RUS = 2 Φ_f CKA_r / (Φ_f + CKA_r + 1e-8) (a harmonic mean: high only when the
forget features moved away from the original / towards the retrain AND the retain features kept
their structure). Features: penultimate, training images, no augmentation.
"""
from __future__ import annotations

from typing import Any, Literal

from engine.metrics.cka import linear_cka

RUS_EPS = 1e-8


def rus_from_parts(phi_f: float, cka_r: float) -> float:
    """RUS = 2 Φ_f CKA_r / (Φ_f + CKA_r + 1e-8)."""
    phi_f = float(phi_f)
    cka_r = float(cka_r)
    return 2.0 * phi_f * cka_r / (phi_f + cka_r + RUS_EPS)


def rus_components(
    Zu_f: Any,
    Zref_f: Any,
    Zu_r: Any,
    Zref_r: Any,
    reference: Literal["original", "retrain"] = "original",
) -> dict[str, float]:
    """dict(phi_f, cka_f, cka_r, rus) against the ``reference`` model.

    Zu_f / Zref_f: (n_f, d) forget-set features of the unlearned / reference model (same images,
    same order); Zu_r / Zref_r: (n_r, d') retain-set features. ``cka_f`` is the raw
    CKA(Z_u(D_f), Z_ref(D_f)) from which Φ_f is derived.
    """
    cka_f = linear_cka(Zu_f, Zref_f)
    cka_r = linear_cka(Zu_r, Zref_r)
    if reference == "original":
        phi_f = 1.0 - cka_f
    elif reference == "retrain":
        phi_f = cka_f
    else:
        raise ValueError(f"reference must be 'original' or 'retrain', not {reference!r}")
    return {"phi_f": phi_f, "cka_f": cka_f, "cka_r": cka_r, "rus": rus_from_parts(phi_f, cka_r)}


def rus_against_original(Zu_f: Any, Zo_f: Any, Zu_r: Any, Zo_r: Any) -> float:
    """RUS(o): Φ_f = 1 − CKA(Zu_f, Zo_f), CKA_r = CKA(Zu_r, Zo_r)."""
    return rus_components(Zu_f, Zo_f, Zu_r, Zo_r, reference="original")["rus"]


def rus_against_retrain(Zu_f: Any, Zr_f: Any, Zu_r: Any, Zr_r: Any) -> float:
    """RUS(r): Φ_f = CKA(Zu_f, Zr_f), CKA_r = CKA(Zu_r, Zr_r)."""
    return rus_components(Zu_f, Zr_f, Zu_r, Zr_r, reference="retrain")["rus"]
