"""The one place a run decides which input normalisation every forward pass uses: the model's.

An imported model carries the normalisation it was trained with (:class:`InputNorm`, from the
JobSpec, its sidecar or buffers inside the checkpoint); the run then works on a view of the
dataset whose ``mean``/``std`` are the model's, so the methods (``ctx.normalise``), the evaluator,
the probe, the audit and the Retrain reference all see the pixels the way the model was trained
to. Only a model that gives none falls back to the dataset's own statistics, and that is said.
"""
from __future__ import annotations

from engine.data.bundle import DatasetBundle
from engine.models.base import LetheModel
from engine.models.input_norm import InputNorm

_SOURCES = {"spec": "given in the JobSpec", "sidecar": "from its sidecar", "checkpoint": "from buffers inside the checkpoint",
            "dataset": "the dataset's statistics"}


def bundle_for_model(bundle: DatasetBundle, model: LetheModel, *, imported: bool) -> tuple[DatasetBundle, str | None]:
    """(the bundle to run on, a Log/record note or None).

    Sets ``model.input_norm`` to the dataset's statistics when the model has none, so every model
    the run exports records the normalisation it was used with. Raises BadSpec when the model's
    normalisation has another number of channels than the images (and is not one value for all).
    """
    norm = model.input_norm
    if norm is None:
        model.input_norm = InputNorm(tuple(bundle.mean), tuple(bundle.std), source="dataset")
        if not imported:
            return bundle, None
        return bundle, ("input normalisation: the checkpoint gives none, so the dataset's statistics are used "
                        f"({model.input_norm.describe()}); if the model was trained with others, give them as "
                        '"input_norm" in the model field')
    norm = norm.for_channels(bundle.channels)
    model.input_norm = norm
    where = _SOURCES.get(norm.source, norm.source)
    if norm.close_to(bundle.mean, bundle.std):
        note = f"input normalisation: the model's own ({where}), equal to the dataset's ({norm.describe()})"
        return bundle, note if imported else None
    note = (f"input normalisation: the model's own ({where}), {norm.describe()}; "
            f"not the dataset's {InputNorm(tuple(bundle.mean), tuple(bundle.std)).describe()}")
    return bundle.with_input_norm(norm.mean, norm.std, norm.source), note
