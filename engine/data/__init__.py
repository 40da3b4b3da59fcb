"""Datasets and forget sets: everything a job needs to know about its images, in NumPy.

``load_dataset("digits")`` and friends return a :class:`DatasetBundle`; a :class:`ForgetSpec`
resolved against it gives the :class:`ForgetSplit` a method unlearns.
"""
from __future__ import annotations

from engine.data.bundle import DatasetBundle
from engine.data.forget import ForgetSpec, ForgetSplit
from engine.data.sources import default_data_root, describe_sources, load_dataset

__all__ = [
    "DatasetBundle",
    "ForgetSpec",
    "ForgetSplit",
    "default_data_root",
    "describe_sources",
    "load_dataset",
]
