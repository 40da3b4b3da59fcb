"""Forget sets: what to unlearn, as a spec (:class:`ForgetSpec`) and as row indices (:class:`ForgetSplit`).

A spec is what a person picks and a job file stores (classes, explicit training rows, or a seeded
random fraction). Resolving it against a dataset gives sorted forget / retain indices and a
content hash, so two runs can tell whether they forgot exactly the same rows, whatever spec
produced them. Every way a selection can be wrong is a :class:`BadForgetSet` or
:class:`EmptyForgetSet` with the offending value named.
"""
from __future__ import annotations

import hashlib
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.data.bundle import DatasetBundle
from engine._core.errors import BadForgetSet, EmptyForgetSet
from engine._core.validate import INDEX_MAX, SEED_MAX

_KINDS = ("classes", "ids", "fraction")
_FIELDS = (*_KINDS, "seed", "stratified")


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ForgetSpec:
    """Exactly one of ``classes`` (indices or names), ``ids`` (training rows) or ``fraction``.

    ``seed`` and ``stratified`` apply to ``fraction`` only: stratified takes round(fraction * n)
    rows of every class, otherwise round(fraction * N) rows of the whole training set.
    """

    classes: tuple[int | str, ...] = ()
    ids: tuple[int, ...] = ()
    fraction: float | None = None
    seed: int = 0
    stratified: bool = True

    def __post_init__(self) -> None:
        classes = tuple(self.classes)
        for c in classes:
            if not (_is_int(c) or isinstance(c, str)):
                raise BadForgetSet(f"forget classes: {c!r} is neither a class index nor a class name")
        object.__setattr__(self, "classes", tuple(c if isinstance(c, str) else int(c) for c in classes))
        ids = tuple(self.ids)
        for i in ids:
            if not _is_int(i):
                raise BadForgetSet(f"forget ids: {i!r} is not an integer row index")
            if not -INDEX_MAX - 1 <= int(i) <= INDEX_MAX:  # beyond int64; the dataset's range is checked in resolve
                raise BadForgetSet(f"forget ids: row {i} is out of range; row indices are 0 or more and below 2**63")
        object.__setattr__(self, "ids", tuple(int(i) for i in ids))
        if self.fraction is not None:
            if isinstance(self.fraction, (bool, np.bool_)) or not isinstance(self.fraction, numbers.Real):
                raise BadForgetSet(f"forget fraction: {self.fraction!r} is not a number")
            f = float(self.fraction)
            if not (math.isfinite(f) and 0.0 < f < 1.0):
                raise BadForgetSet(f"forget fraction: {self.fraction!r} must lie strictly between 0 and 1")
            object.__setattr__(self, "fraction", f)
        if not _is_int(self.seed):
            raise BadForgetSet(f"forget seed: {self.seed!r} is not an integer")
        if not 0 <= int(self.seed) <= SEED_MAX:
            raise BadForgetSet(f"forget seed: {self.seed} is out of range; expected an integer from 0 to {SEED_MAX}")
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "stratified", bool(self.stratified))
        given = [k for k, v in (("classes", classes), ("ids", ids), ("fraction", self.fraction)) if v not in ((), None)]
        if len(given) > 1:
            raise BadForgetSet(f"forget set: give only one of classes, ids or fraction, got {' and '.join(given)}")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ForgetSpec:
        """``{"classes": [...]}`` | ``{"ids": [...]}`` | ``{"fraction": F, "seed": S, "stratified": true}``."""
        if not isinstance(d, dict):
            raise BadForgetSet(f"forget set must be an object, got {type(d).__name__}")
        unknown = [k for k in d if k not in _FIELDS]
        if unknown:
            raise BadForgetSet(f"forget set: unknown field {unknown[0]!r} (valid: {', '.join(_FIELDS)})")
        kinds = [k for k in _KINDS if k in d]
        if len(kinds) != 1:
            got = " and ".join(kinds) if kinds else "none"
            raise BadForgetSet(f"forget set: give exactly one of 'classes', 'ids' or 'fraction', got {got}")
        kind = kinds[0]
        if kind != "fraction":
            extra = [k for k in ("seed", "stratified") if k in d]
            if extra:
                raise BadForgetSet(f"forget set: {extra[0]!r} only applies with 'fraction', not with {kind!r}")
            value = d[kind]
            if not isinstance(value, (list, tuple)):
                raise BadForgetSet(f"forget {kind}: must be a list, got {type(value).__name__}")
            if not value:
                raise EmptyForgetSet(f"forget {kind}: the list is empty")
            return cls(classes=tuple(value)) if kind == "classes" else cls(ids=tuple(value))
        if "stratified" in d and not isinstance(d["stratified"], bool):
            raise BadForgetSet(f"forget stratified: must be true or false, got {d['stratified']!r}")
        if d["fraction"] is None:
            raise BadForgetSet("forget fraction: must be a number between 0 and 1, got null")
        return cls(fraction=d["fraction"], seed=d.get("seed", 0), stratified=d.get("stratified", True))

    def to_json(self) -> dict[str, Any]:
        if self.fraction is not None:
            return {"fraction": self.fraction, "seed": self.seed, "stratified": self.stratified}
        if self.ids:
            return {"ids": list(self.ids)}
        return {"classes": list(self.classes)}

    @property
    def kind(self) -> str:
        """``"class"`` for a class selection, ``"sample"`` for ids or a fraction."""
        return "sample" if self.ids or self.fraction is not None else "class"

    def resolve(self, bundle: DatasetBundle) -> ForgetSplit:
        """Rows of ``bundle``'s training set to forget and to retain; deterministic for a spec and bundle."""
        n = int(bundle.y_train.shape[0])
        if self.classes:
            return self._resolve_classes(bundle)
        if self.ids:
            forget = np.unique(np.asarray(self.ids, dtype=np.int64))
            bad = [i for i in self.ids if not 0 <= i < n]
            if bad:
                raise BadForgetSet(f"forget ids: row {bad[0]} is out of range; valid rows are 0 to {n - 1}")
        elif self.fraction is not None:
            forget = self._sample_fraction(bundle)
            if forget.size == 0:
                raise EmptyForgetSet(
                    f"forget fraction {self.fraction:g} of {n} training rows selects no row",
                    hint="raise the fraction",
                )
        else:
            raise EmptyForgetSet("the forget set is empty")
        if forget.size >= n:
            raise BadForgetSet(
                f"the forget set covers all {n} training rows, leaving nothing to retain",
                hint="forget fewer rows",
            )
        return _make_split(bundle, "sample", forget, ())

    def _resolve_classes(self, bundle: DatasetBundle) -> ForgetSplit:
        k = bundle.num_classes
        index = {name: i for i, name in enumerate(bundle.classes)}
        chosen: set[int] = set()
        for c in self.classes:
            if isinstance(c, str):
                if c not in index:
                    raise BadForgetSet(
                        f"forget classes: unknown class name {c!r}; valid names: {', '.join(bundle.classes)}"
                    )
                chosen.add(index[c])
            else:
                if not 0 <= c < k:
                    raise BadForgetSet(f"forget classes: class index {c} is out of range; valid are 0 to {k - 1}")
                chosen.add(c)
        if len(chosen) >= k:
            raise BadForgetSet("forgetting every class leaves nothing to retain", hint="keep at least one class")
        classes = tuple(sorted(chosen))
        forget = np.flatnonzero(np.isin(bundle.y_train, classes)).astype(np.int64)
        if forget.size == 0:
            names = ", ".join(bundle.classes[c] for c in classes)
            raise EmptyForgetSet(f"the training set has no rows of class {names}")
        return _make_split(bundle, "class", forget, classes)

    def _sample_fraction(self, bundle: DatasetBundle) -> np.ndarray:
        assert self.fraction is not None
        rng = np.random.default_rng(self.seed)
        y = bundle.y_train
        if not self.stratified:
            take = math.floor(self.fraction * y.shape[0] + 0.5)
            return np.sort(rng.choice(y.shape[0], size=take, replace=False)).astype(np.int64)
        parts = []
        for c in range(bundle.num_classes):
            rows = np.flatnonzero(y == c)
            take = math.floor(self.fraction * rows.shape[0] + 0.5)
            parts.append(rng.choice(rows, size=take, replace=False) if take else rows[:0])
        return np.sort(np.concatenate(parts)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class ForgetSplit:
    """A resolved forget set: sorted int64 row indices, plus the test rows split the same way."""

    kind: str
    forget_idx: np.ndarray
    retain_idx: np.ndarray
    forget_classes: tuple[int, ...]
    test_forget_idx: np.ndarray
    test_retain_idx: np.ndarray
    hash: str

    @property
    def n_forget(self) -> int:
        return int(self.forget_idx.shape[0])

    @property
    def n_retain(self) -> int:
        return int(self.retain_idx.shape[0])

    def summary(self, bundle: DatasetBundle) -> dict[str, Any]:
        """Sizes and per-class forget counts (aligned with ``bundle.classes``), for the UI counter."""
        per_class = np.bincount(bundle.y_train[self.forget_idx], minlength=bundle.num_classes)
        return {
            "kind": self.kind,
            "train": int(bundle.y_train.shape[0]),
            "forget": self.n_forget,
            "retain": self.n_retain,
            "test_forget": int(self.test_forget_idx.shape[0]),
            "test_retain": int(self.test_retain_idx.shape[0]),
            "forget_classes": [bundle.classes[c] for c in self.forget_classes],
            "per_class_forget": [int(v) for v in per_class],
            "per_class_total": [int(v) for v in bundle.class_counts("train")],
            "hash": self.hash,
        }


def split_hash(fingerprint: str, kind: str, forget_idx: np.ndarray) -> str:
    """SHA-256 of the dataset fingerprint, the kind and the sorted forget rows."""
    h = hashlib.sha256()
    h.update(fingerprint.encode())
    h.update(b"\n")
    h.update(kind.encode())
    h.update(b"\n")
    h.update(np.ascontiguousarray(forget_idx, dtype="<i8").tobytes())
    return h.hexdigest()


def _make_split(bundle: DatasetBundle, kind: str, forget: np.ndarray, classes: tuple[int, ...]) -> ForgetSplit:
    n = int(bundle.y_train.shape[0])
    mask = np.zeros(n, dtype=bool)
    mask[forget] = True
    retain = np.flatnonzero(~mask).astype(np.int64)
    if classes:
        test_mask = np.isin(bundle.y_test, classes)
        test_forget = np.flatnonzero(test_mask).astype(np.int64)
        test_retain = np.flatnonzero(~test_mask).astype(np.int64)
    else:
        test_forget = _empty()
        test_retain = np.arange(bundle.y_test.shape[0], dtype=np.int64)
    return ForgetSplit(
        kind=kind,
        forget_idx=forget,
        retain_idx=retain,
        forget_classes=classes,
        test_forget_idx=test_forget,
        test_retain_idx=test_retain,
        hash=split_hash(bundle.fingerprint, kind, forget),
    )
