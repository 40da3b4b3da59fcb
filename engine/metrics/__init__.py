"""Evaluation metrics on numpy arrays (pure functions, float64 inside).

- accuracy: :func:`accuracy`, :func:`per_class_accuracy`, :func:`aus` (methods.md B1, pour.md).
- representation similarity: :func:`linear_cka`, :func:`linear_cka_batched` (Kornblith et al.
  2019; UUEF convention), RUS of the POUR paper (:func:`rus_components` and friends).
- membership inference on features: :func:`rmia`.
- neural collapse (Papyan et al. 2020): :func:`nc_metrics` and helpers.
"""
from __future__ import annotations

from engine.metrics.accuracy import accuracy, as_numpy, aus, per_class_accuracy
from engine.metrics.cka import linear_cka, linear_cka_batched
from engine.metrics.neural_collapse import (
    class_means,
    etf_gram,
    forget_feature_placement,
    gram_distance,
    gram_matrix,
    ideal_angle_deg,
    nc_metrics,
)
from engine.metrics.rmia import member_pool, rmia
from engine.metrics.rus import (
    rus_against_original,
    rus_against_retrain,
    rus_components,
    rus_from_parts,
)

__all__ = [
    "accuracy",
    "as_numpy",
    "aus",
    "class_means",
    "etf_gram",
    "forget_feature_placement",
    "gram_distance",
    "gram_matrix",
    "ideal_angle_deg",
    "linear_cka",
    "linear_cka_batched",
    "member_pool",
    "nc_metrics",
    "per_class_accuracy",
    "rmia",
    "rus_against_original",
    "rus_against_retrain",
    "rus_components",
    "rus_from_parts",
]
