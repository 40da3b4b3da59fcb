"""Forget specs and their resolution into forget / retain rows."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data import DatasetBundle, ForgetSpec, ForgetSplit
from engine._core.errors import BadForgetSet, EmptyForgetSet


@pytest.fixture()
def bundle() -> DatasetBundle:
    rng = np.random.default_rng(0)
    y_train = np.array([0] * 4 + [1] * 6 + [2] * 10)
    y_test = np.array([0, 1, 2, 2, 1])
    return DatasetBundle(
        name="toy", source="toy",
        x_train=rng.integers(0, 256, (20, 1, 2, 2), dtype=np.uint8), y_train=y_train,
        x_test=rng.integers(0, 256, (5, 1, 2, 2), dtype=np.uint8), y_test=y_test,
        classes=("ant", "bee", "cow"),
    )


def test_class_forget_takes_every_row_of_the_class_and_splits_test_alike(bundle: DatasetBundle) -> None:
    s = ForgetSpec(classes=(1,)).resolve(bundle)
    assert s.kind == "class" and s.forget_classes == (1,)
    assert s.forget_idx.tolist() == list(range(4, 10)) and s.forget_idx.dtype == np.int64
    assert s.retain_idx.tolist() == [0, 1, 2, 3, *range(10, 20)]
    assert s.test_forget_idx.tolist() == [1, 4] and s.test_retain_idx.tolist() == [0, 2, 3]


def test_class_names_are_accepted_and_equal_indices(bundle: DatasetBundle) -> None:
    assert ForgetSpec(classes=("bee",)).resolve(bundle).hash == ForgetSpec(classes=(1,)).resolve(bundle).hash


def test_unknown_class_name_lists_valid_names(bundle: DatasetBundle) -> None:
    with pytest.raises(BadForgetSet, match="ant, bee, cow"):
        ForgetSpec(classes=("yak",)).resolve(bundle)


def test_class_index_out_of_range_is_refused(bundle: DatasetBundle) -> None:
    with pytest.raises(BadForgetSet, match="0 to 2"):
        ForgetSpec(classes=(3,)).resolve(bundle)


def test_forgetting_every_class_is_refused(bundle: DatasetBundle) -> None:
    with pytest.raises(BadForgetSet, match="every class"):
        ForgetSpec(classes=(0, "bee", 2)).resolve(bundle)


def test_empty_spec_is_an_empty_forget_set(bundle: DatasetBundle) -> None:
    with pytest.raises(EmptyForgetSet):
        ForgetSpec().resolve(bundle)


def test_sample_ids_are_sorted_and_deduplicated(bundle: DatasetBundle) -> None:
    s = ForgetSpec(ids=(7, 2, 7)).resolve(bundle)
    assert s.kind == "sample" and s.forget_idx.tolist() == [2, 7] and s.forget_classes == ()
    assert s.retain_idx.shape == (18,) and s.test_forget_idx.size == 0 and s.test_retain_idx.tolist() == [0, 1, 2, 3, 4]


def test_out_of_range_id_names_the_first_bad_id_and_the_range(bundle: DatasetBundle) -> None:
    with pytest.raises(BadForgetSet, match=r"row 20 .*0 to 19"):
        ForgetSpec(ids=(1, 20, -1)).resolve(bundle)


def test_sample_set_covering_the_whole_training_set_is_refused(bundle: DatasetBundle) -> None:
    with pytest.raises(BadForgetSet, match="all 20"):
        ForgetSpec(ids=tuple(range(20))).resolve(bundle)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_fraction_outside_zero_one_is_refused(fraction: float) -> None:
    with pytest.raises(BadForgetSet, match="between 0 and 1"):
        ForgetSpec(fraction=fraction)


def test_tiny_fraction_that_selects_nothing_is_an_empty_forget_set(bundle: DatasetBundle) -> None:
    with pytest.raises(EmptyForgetSet):
        ForgetSpec(fraction=0.01).resolve(bundle)


def test_stratified_fraction_takes_a_rounded_share_of_every_class(bundle: DatasetBundle) -> None:
    s = ForgetSpec(fraction=0.5, seed=3).resolve(bundle)
    assert np.bincount(bundle.y_train[s.forget_idx], minlength=3).tolist() == [2, 3, 5]
    assert s.summary(bundle)["per_class_forget"] == [2, 3, 5]


def test_unstratified_fraction_takes_a_rounded_share_of_all_rows(bundle: DatasetBundle) -> None:
    s = ForgetSpec(fraction=0.25, stratified=False).resolve(bundle)
    assert s.forget_idx.shape == (5,) and np.all(np.diff(s.forget_idx) > 0)


def test_resolution_is_deterministic_and_seeded(bundle: DatasetBundle) -> None:
    a = ForgetSpec(fraction=0.3, seed=1).resolve(bundle)
    b = ForgetSpec(fraction=0.3, seed=1).resolve(bundle)
    c = ForgetSpec(fraction=0.3, seed=2).resolve(bundle)
    assert np.array_equal(a.forget_idx, b.forget_idx) and a.hash == b.hash
    assert a.hash != c.hash


def test_hash_changes_when_ids_change(bundle: DatasetBundle) -> None:
    assert ForgetSpec(ids=(1, 2)).resolve(bundle).hash != ForgetSpec(ids=(1, 3)).resolve(bundle).hash


def test_hash_depends_on_the_dataset(bundle: DatasetBundle) -> None:
    other = DatasetBundle(
        name="toy", source="toy", x_train=bundle.x_train[::-1].copy(), y_train=bundle.y_train,
        x_test=bundle.x_test, y_test=bundle.y_test, classes=bundle.classes,
    )
    assert ForgetSpec(ids=(1,)).resolve(bundle).hash != ForgetSpec(ids=(1,)).resolve(other).hash


def test_summary_counts_sizes_for_the_ui(bundle: DatasetBundle) -> None:
    split = ForgetSpec(classes=("cow",)).resolve(bundle)
    assert isinstance(split, ForgetSplit)
    summary = split.summary(bundle)
    assert summary["forget"] == 10 and summary["retain"] == 10 and summary["forget_classes"] == ["cow"]
    assert summary["test_forget"] == 2 and summary["per_class_total"] == [4, 6, 10]


@pytest.mark.parametrize(
    "spec",
    [ForgetSpec(classes=(2, "ant")), ForgetSpec(ids=(3, 1)), ForgetSpec(fraction=0.2, seed=7, stratified=False)],
)
def test_json_round_trip_keeps_the_spec(spec: ForgetSpec) -> None:
    assert ForgetSpec.from_json(spec.to_json()) == spec


def test_json_with_two_kinds_names_both_fields() -> None:
    with pytest.raises(BadForgetSet, match="classes and ids"):
        ForgetSpec.from_json({"classes": [1], "ids": [2]})


def test_json_with_no_kind_is_refused() -> None:
    with pytest.raises(BadForgetSet, match="exactly one"):
        ForgetSpec.from_json({})


def test_json_unknown_field_is_named() -> None:
    with pytest.raises(BadForgetSet, match="'klasses'"):
        ForgetSpec.from_json({"klasses": [1]})


def test_json_seed_without_fraction_is_refused() -> None:
    with pytest.raises(BadForgetSet, match="'seed'"):
        ForgetSpec.from_json({"ids": [1], "seed": 3})


def test_json_empty_list_is_an_empty_forget_set() -> None:
    with pytest.raises(EmptyForgetSet):
        ForgetSpec.from_json({"classes": []})


@pytest.mark.parametrize("bad", [{"ids": [1.5]}, {"ids": [True]}, {"classes": [None]}, {"fraction": "0.1"}, {"ids": 3}])
def test_json_values_of_the_wrong_type_are_refused(bad: dict) -> None:
    with pytest.raises(BadForgetSet):
        ForgetSpec.from_json(bad)


def test_kind_is_class_or_sample() -> None:
    assert ForgetSpec(classes=(1,)).kind == "class"
    assert ForgetSpec(ids=(1,)).kind == "sample" and ForgetSpec(fraction=0.1).kind == "sample"
