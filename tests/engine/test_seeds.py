"""Multi-seed runs through an executor (issue 14): records in seed order, mean ± std, seeds.json."""
from __future__ import annotations

import json
import math
import statistics

import pytest

from engine._core.errors import BadSpec, LetheError
from engine.cli.bench import one_seed_methods_job
from engine.cli.main import main
from engine.executors import InProcessExecutor
from engine.executors.seeds import mean_std, run_seeds, seed_specs, write_seeds
from engine.runs.spec import JobSpec

TINY = dict(method="finetune", model={"arch": "mlp", "recipe": {"epochs": 2}}, params={"epochs": 1},
            evaluate=False, geometry=False, audit=False)


def test_mean_std_is_the_sample_spread_and_skips_non_numbers() -> None:
    rows = [{"a": 1.0, "b": float("nan"), "c": True, "d": "x"}, {"a": 3.0, "b": 2.0}]
    out = mean_std(rows)
    assert out["a"] == {"mean": 2.0, "std": pytest.approx(math.sqrt(2.0)), "n": 2}
    assert out["b"] == {"mean": 2.0, "std": 0.0, "n": 1}
    assert "c" not in out and "d" not in out
    with pytest.raises(BadSpec):
        seed_specs(JobSpec(**TINY), 0)


def test_run_seeds_gives_each_seed_its_record_and_the_mean_and_std(runner, tmp_path) -> None:  # noqa: ANN001
    spec = JobSpec(**TINY, seed=5)
    with InProcessExecutor(runner=runner) as ex:
        records, summary = run_seeds(spec, 2, ex)
    assert [r.spec["seed"] for r in records] == [5, 6] == summary["seeds"]
    for key in ("forget_acc", "retain_acc", "test_acc"):
        values = [r.metrics[key] for r in records]
        assert summary["metrics"][key]["mean"] == pytest.approx(statistics.mean(values))
        assert summary["metrics"][key]["std"] == pytest.approx(statistics.stdev(values))
        assert summary["metrics"][key]["n"] == 2
    assert records[0].metrics != records[1].metrics  # two seeds really ran (different originals)
    assert "retrain" in summary["references"] or "original" in summary["references"]
    path = write_seeds(tmp_path, summary)
    assert json.loads(path.read_text())["metrics"]["retain_acc"]["n"] == 2


def test_run_seeds_raises_a_failing_seed(runner) -> None:  # noqa: ANN001
    with InProcessExecutor(runner=runner) as ex, pytest.raises(LetheError):
        run_seeds(JobSpec(**{**TINY, "forget": {"classes": [42]}}), 2, ex)


def test_unlearn_seeds_writes_each_run_and_seeds_json(tmp_path, capsys) -> None:  # noqa: ANN001
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**TINY, "seed": 0}))
    out = tmp_path / "out"
    assert main(["unlearn", str(spec), "--seeds", "2", "--executor", "inline", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "seeds.json").read_text())
    assert summary["seeds"] == [0, 1]
    assert (out / "seed-0" / "record.json").exists() and (out / "seed-1" / "unlearned.safetensors").exists()
    assert all(run["weights"] for run in summary["runs"])
    assert "mean ± std over seeds [0, 1]" in capsys.readouterr().out
    assert main(["unlearn", str(spec), "--seeds", "0", "--executor", "inline", "--out", str(tmp_path / "o2")]) == 2


def test_one_seed_of_bench_methods_runs_as_a_picklable_job() -> None:
    import pickle

    options = {"dataset": "digits", "model": "mlp", "forget": "class:3", "device": "cpu", "preset": "paper"}
    assert pickle.loads(pickle.dumps(one_seed_methods_job)) is one_seed_methods_job
    rows = one_seed_methods_job(options, 0, ["finetune"])
    assert rows["retrain"]["time_ratio"] == 1.0
    assert rows["finetune"]["time_ratio"] > 0 and rows["finetune"]["retain_acc"] > 0.5


@pytest.mark.slow
def test_bench_methods_runs_seeds_on_two_workers(tmp_path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "bench.json"
    argv = ["bench", "methods", "--model", "mlp", "--only", "finetune", "--seeds", "2", "--workers", "2",
            "--out", str(out), "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    assert "2 seeds ran in parallel" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["workers"] == 2 and result["seeds"] == [0, 1]
    assert [rows["retrain"]["time_ratio"] for rows in result["per_seed"]] == [1.0, 1.0]
    assert result["results"]["finetune"]["time_ratio"]["n"] == 2


def test_klom_shadows_trained_through_submit_match_one_by_one(digits, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """``submit`` (an executor's submit_call; here a 1-thread pool: threads share torch's global RNG,
    so two would not be reproducible; worker processes are, see the slow test below): the 2K shadows
    train off the job's thread into the cache first, then the job loads them; same numbers as one by
    one on a fresh cache."""
    from concurrent.futures import ThreadPoolExecutor

    import engine.evaluation.ensembles as ens
    from engine._core.events import Log, Progress, drain
    from engine.data import ForgetSpec
    from engine.train.recipe import Recipe

    split = ForgetSpec(classes=(3,)).resolve(digits)
    recipe = Recipe(epochs=1, lr=0.05, batch_size=128)
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "pool"))
    calls: list[tuple] = []
    with ThreadPoolExecutor(1) as pool:
        def submit(fn, *args):  # noqa: ANN001, ANN002, ANN202
            calls.append((args[0], args[5]))
            return pool.submit(fn, *args)

        events: list = []
        gen = ens.klom_job(digits, split, "mlp", recipe, "retrain", k=2, seed=0, batched="sequential",
                           use_cache=False, submit=submit)
        try:
            while True:
                events.append(next(gen))
        except StopIteration as stop:
            pooled = stop.value
    assert sorted(calls) == [("original", 2), ("original", 3), ("retrain", 0), ("retrain", 1)]
    assert any(isinstance(e, Log) and "parallel workers" in e.message for e in events)
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "seq"))
    sequential = drain(ens.klom_job(digits, split, "mlp", recipe, "retrain", k=2, seed=0, batched="sequential",
                                    use_cache=False))
    assert pooled["klom_mean"] == pytest.approx(sequential["klom_mean"], abs=1e-3)


@pytest.mark.slow
def test_klom_shadows_in_two_worker_processes_match_one_by_one(digits, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import engine.evaluation.ensembles as ens
    from engine._core.events import drain
    from engine.data import ForgetSpec
    from engine.executors import LocalExecutor
    from engine.train.recipe import Recipe

    split = ForgetSpec(classes=(3,)).resolve(digits)
    recipe = Recipe(epochs=1, lr=0.05, batch_size=128)
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "pool"))
    with LocalExecutor(2) as ex:
        pooled = drain(ens.klom_job(digits, split, "mlp", recipe, "retrain", k=2, seed=0, batched="sequential",
                                    use_cache=False, submit=ex.submit_call))
    assert ens.cached_trainings(digits, split, "mlp", recipe, seed=0, k=2) == 4  # trained by the workers
    monkeypatch.setenv("LETHE_CACHE_DIR", str(tmp_path / "seq"))
    sequential = drain(ens.klom_job(digits, split, "mlp", recipe, "retrain", k=2, seed=0, batched="sequential",
                                    use_cache=False))
    assert pooled["klom_mean"] == pytest.approx(sequential["klom_mean"], abs=1e-3)
