"""Command line: ``python -m engine demo | train | unlearn | inspect | methods | bench | report | ensemble | sweep``.

``--plugin file.py`` (before or after the command, repeatable) runs a file that registers models.

Progress goes to stderr, results to stdout. Exit codes: 0 success, 2 bad input (one line),
1 unexpected failure.

Every ``--out`` follows one rule (:mod:`engine._core.outputs`): a folder that already holds Lethe
files is refused unless ``--overwrite``, a second process writing into the same folder fails on
its lock file, and a run's own inputs (the spec, the checkpoint, the dataset files, the record a
report is made from) are never replaced, ``--overwrite`` or not.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from engine._core.cancel import CancelToken
from engine.cli.format import ProgressPrinter, describe_method, failure_line, format_legend, format_table
from engine.cli.outfile import output_file
from engine._core.errors import BadRecord, BadSpec, LetheError, NotWritable, WouldOverwrite
from engine._core.events import Failed, Finished, Progress
from engine._core.fileio import dumps_json, file_identity, protect_inputs
from engine._core.outputs import OutputFolder
from engine.runs.runner import Runner
from engine.runs.spec import JobSpec
from engine.runs.record import RunRecord


class JobFailed(Exception):
    def __init__(self, event: Failed) -> None:
        super().__init__(failure_line(event))
        self.event = event


def run_job(runner: Runner, spec: JobSpec, printer: ProgressPrinter, out_dir: str | OutputFolder | None = None) -> RunRecord:
    token = CancelToken()
    try:
        for event in runner.run(spec, token, out_dir=out_dir):
            printer(event)
            if isinstance(event, Finished):
                return event.record
            if isinstance(event, Failed):
                raise JobFailed(event)
    except KeyboardInterrupt:
        token.cancel()
        raise
    finally:
        printer.close()
    raise RuntimeError("the job ended without a result")  # pragma: no cover


def drive(gen: Any, printer: ProgressPrinter, token: CancelToken) -> Any:
    """Print an event generator's progress to stderr and return its value; Ctrl-C cancels it."""
    try:
        while True:
            printer(next(gen))
    except StopIteration as stop:
        return stop.value
    except KeyboardInterrupt:
        token.cancel()
        raise
    finally:
        printer.close()


def cmd_demo(args: argparse.Namespace) -> int:
    runner = Runner()
    printer = ProgressPrinter(quiet=args.quiet)
    forget = {"classes": [args.forget_class]}
    model = {"arch": args.model}
    spec = JobSpec(dataset=args.dataset, model=model, forget=forget, method=args.method, reference="retrain",
                   seed=args.seed, device=args.device)
    main = run_job(runner, spec, printer)
    records = [*list(main.references), main]
    if args.method == "pour_p":  # the POUR demo: show the distillation variant beside it
        records.append(run_job(runner, spec.with_changes(method="pour_d"), printer))
    if args.json:
        print(dumps_json([r.to_json() for r in records], indent=2))
        return 0
    ds = main.dataset
    print(f"Dataset {ds['name']} ({ds['train_size']} train / {ds['test_size']} test), model {args.model}, "
          f"forgetting class {main.forget['classes']} ({main.forget['size']} training images), device {main.device}\n")
    print(format_table(records))
    print()
    print(format_legend())
    for r in records:
        if r.audit.get("verdicts"):
            print()
            print(format_verdicts(r))
    return 0


def format_verdicts(record: RunRecord) -> str:
    """The audit's verdicts of one record as plain text (one block per question)."""
    basis = record.audit.get("basis", "")
    against = "against the retrained model" if basis == "retrain" else "reference-free rules"
    lines = [f"Verdicts for {record.label or record.method} ({against}):"]
    for v in record.audit.get("verdicts", []):
        lines.append(f"  {v['status'].upper():<5} {v['question']:<22} {v['summary']}")
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    from engine.report.html import load_bundle_for, write_report

    path = Path(args.record)
    if not path.exists():
        raise BadSpec(f"record file {path} does not exist")
    target = Path(args.out)
    if file_identity(target) is not None and file_identity(target) == file_identity(path):
        raise WouldOverwrite(f"refusing to write the report onto its own input {path}",
                             hint="choose another --out, e.g. report.html")
    if target.is_dir():
        raise NotWritable(f"--out {target} is a folder; give the .html file to write", hint="e.g. --out report.html")
    if target.exists() and not args.overwrite:
        raise WouldOverwrite(f"{target} already exists", hint="pass --overwrite to replace it, or choose another --out")
    record = RunRecord.load(path)
    if record.weights and not Path(record.weights).exists():  # moved with its folder
        candidate = path.parent / Path(record.weights).name
        if candidate.exists():
            record.weights = str(candidate)
    printer = ProgressPrinter(quiet=args.quiet)
    bundle = None
    if not args.no_thumbnails:  # a CIFAR-sized dataset takes seconds to load: say so
        source = record.dataset.get("source") if isinstance(record.dataset, dict) else None
        printer.step(Progress("report", 0.0, f"load the run's dataset ({source or 'unknown'}) for its thumbnails"))
        bundle = load_bundle_for(record)
    printer.step(Progress("report", 0.5, "draw the figures and write the page"))
    with protect_inputs([path, record.weights]):
        try:
            out = write_report(record, target, bundle=bundle)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # a record.json from elsewhere may lack what a run writes (verdict fields, audit details)
            raise BadRecord(f"{path} is not a complete Lethe record ({type(exc).__name__}: {exc})") from exc
    printer.close()
    note = "" if bundle is not None else " (no thumbnails: dataset not available)"
    print(f"wrote {out}{note}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from engine.models.checkpoints import check_finite, save_checkpoint
    from engine.data import load_dataset
    from engine.data.sources import source_files
    from engine._core.device import resolve_device
    from engine._core.validate import SEED_MAX, require_int
    from engine.metrics import accuracy
    from engine.models import available_models
    from engine.runs.budget import check_budget, training
    from engine.train.features import extract
    from engine.train.pretrained import fresh_model
    from engine.train.loop import train
    from engine.train.recipe import Recipe, default_recipe

    require_int(args.seed, "--seed", lo=0, hi=SEED_MAX)
    if args.model not in available_models():
        raise BadSpec(f"--model: unknown model {args.model!r} (available: {', '.join(available_models())})")
    bundle = load_dataset(args.dataset)
    device = resolve_device(args.device)
    recipe = default_recipe(args.model, bundle.image_size, bundle.channels)
    if args.epochs is not None:
        recipe = Recipe.from_json({**recipe.to_json(), "epochs": args.epochs})
    check_budget([training("training", args.model, recipe.epochs, len(bundle.x_train), bundle.channels,
                           bundle.image_size, bundle.num_classes)], device, confirmed=args.yes)
    with protect_inputs(source_files(args.dataset)), OutputFolder.claim(args.out, overwrite=args.overwrite) as out:
        model = fresh_model(args.model, bundle, args.seed)
        printer = ProgressPrinter(quiet=args.quiet)
        token = CancelToken()
        t0 = time.perf_counter()
        gen = train(model, bundle.x_train, bundle.y_train, bundle.mean, bundle.std, recipe, device=device,
                    seed=args.seed, token=token, stage="train")
        model = drive(gen, printer, token)
        check_finite(model, f"train: the trained {args.model}")
        seconds = time.perf_counter() - t0
        test = extract(model, bundle.x_test, bundle.mean, bundle.std, device=device)
        acc = accuracy(test.predictions, bundle.y_test)
        meta = {"kind": "original", "classes": list(bundle.classes), "dataset": bundle.source,
                "dataset_fingerprint": bundle.fingerprint, "recipe": recipe.to_json(), "seed": args.seed,
                "mean": list(bundle.mean), "std": list(bundle.std), "metrics": {"test_acc": acc}}
        out.target("model.safetensors")
        out.target("model.json")
        try:
            path = save_checkpoint(model.to("cpu"), out.path / "model", meta, overwrite=True)
        except (LetheError, OSError):
            out.rollback()
            raise
    print(dumps_json({"checkpoint": str(path), "test_acc": acc, "seconds": round(seconds, 2),
                      "device": str(device), "recipe": recipe.to_json()}, indent=2))
    return 0


def cmd_unlearn(args: argparse.Namespace) -> int:
    spec = JobSpec.load(args.spec)
    if args.yes:
        spec = spec.with_changes(confirm_cost=True)
    out = Path(args.out)
    if args.seeds != 1 or args.workers is not None:
        return _unlearn_seeds(args, spec, out)
    # The spec file is an input too; the Runner protects the checkpoint and dataset files.
    with protect_inputs([args.spec]), OutputFolder.claim(out, overwrite=args.overwrite) as folder:
        record = run_job(Runner(), spec, ProgressPrinter(quiet=args.quiet), out_dir=folder)
    print(format_table([*record.references, record]))
    print(f"\nwrote {out / 'record.json'} and {record.weights}")
    return 0


def _unlearn_seeds(args: argparse.Namespace, spec: JobSpec, out: Path) -> int:
    """``unlearn --seeds N [--workers W] [--executor E]``: the spec with seeds seed .. seed+N-1 on an
    executor; each run saved in ``OUT/seed-S/``, the mean ± std of every metric in ``OUT/seeds.json``."""
    from engine._core.fileio import atomic_write_json
    from engine.executors import make_executor
    from engine._core.validate import require_int
    from engine.executors.seeds import SEEDS_NAME, run_seeds, summarise_seeds
    from engine.runs.record import save_run

    require_int(args.seeds, "--seeds", lo=1, hi=1000)
    workers = args.workers if args.workers is not None else min(args.seeds, 2)
    require_int(workers, "--workers", lo=1, hi=256)
    printer = ProgressPrinter(quiet=args.quiet)
    with protect_inputs([args.spec]), OutputFolder.claim(out, overwrite=args.overwrite) as folder:
        with make_executor(args.executor, workers) as ex:
            print(f"unlearn: {args.seeds} seed(s) of {spec.method} on {ex.name} with {ex.workers} worker(s)",
                  file=sys.stderr)
            try:
                records, summary = run_seeds(spec, args.seeds, ex, on_event=printer)
            finally:
                printer.close()
        for rec in records:
            if rec.model is not None:
                save_run(rec, folder.path / f"seed-{rec.spec.get('seed')}", overwrite=args.overwrite)
        summary = summarise_seeds(spec, records)  # again: with the saved weights' paths
        path = folder.target(SEEDS_NAME)
        atomic_write_json(path, summary)
    print(format_table([*records[0].references, *records]))
    print(format_seeds(summary))
    print(f"\nwrote {path} and seed-*/record.json")
    return 0


def format_seeds(summary: dict[str, Any]) -> str:
    """The mean ± std lines of a seeds.json summary (accuracies in %)."""
    lines = [f"mean ± std over seeds {summary['seeds']}:"]
    for key, v in summary["metrics"].items():
        lines.append(f"  {key:<22} {v['mean']:.4g} ± {v['std']:.2g}  (n={v['n']})")
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    """What Lethe sees in a checkpoint; exit 0 when it loads as is, 2 when it cannot (the reason printed)."""
    from engine.models.inspection import format_inspection, inspect_checkpoint

    shape = None
    num_classes = None
    if args.dataset:
        from engine.data import load_dataset

        bundle = load_dataset(args.dataset)
        shape, num_classes = bundle.input_shape, bundle.num_classes
    result = inspect_checkpoint(args.path, arch=args.arch, input_shape=shape, num_classes=num_classes)
    print(dumps_json(result.to_json(), indent=2) if args.json else format_inspection(result))
    return 0 if result.loads else 2


def cmd_export(args: argparse.Namespace) -> int:
    from engine.cli.export import cmd_export as export

    return export(args)


def cmd_methods(args: argparse.Namespace) -> int:
    from engine.methods import available, get

    infos = [get(name).describe() for name in available()]
    if args.json:
        print(dumps_json(infos, indent=2, default=str))
    else:
        print("\n\n".join(describe_method(i) for i in infos))
    return 0


def cmd_figure(args: argparse.Namespace) -> int:
    from engine._core.events import Geometry
    from engine.report.figures import embedding_before_after

    out = output_file(args.out, f"embedding-{args.method}.png")  # refused now, not after the run
    spec = JobSpec(dataset=args.dataset, model={"arch": args.model}, forget={"classes": [args.forget_class]},
                   method=args.method, reference="retrain", seed=args.seed, device=args.device, audit=False)
    frames: dict[str, Geometry] = {}
    printer = ProgressPrinter(quiet=args.quiet)
    record = None
    for event in Runner().run(spec):
        printer(event)
        if isinstance(event, Geometry) and event.stage == "unlearn":
            frames["unlearn"] = event  # the last frame of the method
        elif isinstance(event, Geometry):
            frames.setdefault(event.stage, event)
        if isinstance(event, Finished):
            record = event.record
        if isinstance(event, Failed):
            raise JobFailed(event)
    printer.close()
    assert record is not None
    path = embedding_before_after(frames["original"], frames["unlearn"], record.dataset["classes"], out,
                                  title_after=f"after {record.label}", ghost=frames.get("retrain"))
    print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.suite == "executors":
        from engine.cli.bench_executors import run_bench_executors

        return run_bench_executors(args)
    from engine.cli.bench import run_bench

    return run_bench(args)


def cmd_ensemble(args: argparse.Namespace) -> int:
    """KLoM (B7) or U-LiRA (B5) over K shadow pairs: the cost estimate, a progress bar, the result JSON."""
    import torch

    from engine.evaluation import ensembles
    from engine.data import ForgetSpec, load_dataset
    from engine._core.device import cpu_thread_budget, resolve_device
    from engine.methods import get
    from engine.train.recipe import Recipe, default_recipe

    torch.set_num_threads(cpu_thread_budget())
    bundle = load_dataset(args.dataset)
    split = ForgetSpec(classes=(args.forget_class,)).resolve(bundle)
    device = resolve_device(args.device)
    recipe = default_recipe(args.model, bundle.image_size, bundle.channels)
    if args.epochs is not None:
        recipe = Recipe.from_json({**recipe.to_json(), "epochs": args.epochs})
    params = None if args.method == ensembles.NO_OP else get(args.method).params_for(args.preset)
    cached = ensembles.cached_trainings(bundle, split, args.model, recipe, seed=args.seed, k=args.k)
    spt = ensembles.measure_seconds_per_training(bundle, args.model, recipe, device=device)
    cost = ensembles.estimate_cost(args.kind, args.k, spt, cached_trainings=cached)
    note = f"approximate: k={args.k} < the paper's {cost['paper_k']}" if cost["approximate"] else "paper-sized k"
    print(f"cost estimate: {cost['trainings_to_run']} of {cost['trainings']} trainings to run "
          f"({cost['cached_trainings']} cached) + {cost['unlearning_runs']} unlearning runs, "
          f"about {cost['minutes']:.1f} min at {spt:.1f} s a training (unlearning counted as one training); {note}",
          flush=True)
    job = ensembles.klom_job if args.kind == "klom" else ensembles.ulira_job
    printer = ProgressPrinter(quiet=args.quiet)
    token = CancelToken()
    import contextlib

    with contextlib.ExitStack() as stack:
        submit = None
        if args.workers is not None and args.workers > 1:
            from engine.executors import make_executor

            submit = stack.enter_context(make_executor("local", args.workers)).submit_call
        gen = job(bundle, split, args.model, recipe, args.method, params, k=args.k, seed=args.seed, device=device,
                  token=token, batched=args.batched, submit=submit)
        result = drive(gen, printer, token)
    if args.json:
        print(dumps_json(result, indent=2))
        return 0
    from engine.cli.ensemble_text import format_klom, format_ulira

    who = "no unlearning (the originals)" if args.method == ensembles.NO_OP else get(args.method).label or args.method
    title = (f"{'KLoM' if args.kind == 'klom' else 'U-LiRA'} of {who} on {bundle.name} ({args.model}), "
             f"forgetting class {bundle.classes[args.forget_class]} ({split.n_forget} training images)")
    fmt = format_klom if args.kind == "klom" else format_ulira
    print(fmt(result, title, cost["paper_k"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description=("Lethe from the command line: train a model, make it forget part of its training data "
                     "(\"unlearning\"), and check how well it forgot. Progress goes to the terminal's error "
                     "stream (stderr), results to its output (stdout)."),
        epilog=("Start with: python -m engine demo   (about a minute on a laptop). "
                "Each command has its own help: python -m engine COMMAND --help"),
    )
    parser.add_argument("--plugin", action="append", default=[], dest="plugins", metavar="FILE.py",
                        help="a Python file that adds your own model architectures (may be given several times)")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                       help="where to compute: auto picks the graphics card when there is one")
        p.add_argument("--seed", type=int, default=0, help="the random seed (same seed, same result)")
        p.add_argument("--quiet", action="store_true", help="do not show progress")

    p = sub.add_parser("demo", help="try it: make a small model forget one digit, and compare",
                       description=("Train a small model on handwritten digits (built in), make it forget one digit "
                                    "with a method, and print a table comparing it with the original model and "
                                    "with a model retrained from scratch without that digit (the ideal)."))
    p.add_argument("--method", default="pour_p", help="the unlearning method (see: python -m engine methods)")
    p.add_argument("--forget-class", type=int, default=3, help="the class (digit) to forget, by number")
    p.add_argument("--dataset", default="digits", help="the dataset (default: the built-in digits)")
    p.add_argument("--model", default="cnn_small", help="the model architecture")
    p.add_argument("--json", action="store_true", help="print the full results as JSON instead of a table")
    common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model on a dataset and save it",
                       description="Train a model on a dataset and save its weights (model.safetensors) and "
                                   "a description (model.json) in a folder.")
    p.add_argument("--dataset", required=True, help="the dataset, e.g. digits or npz:path/to/file.npz")
    p.add_argument("--model", required=True, help="the architecture, e.g. cnn_small, convnet, mlp")
    p.add_argument("--epochs", type=int, help="passes over the training data (default: the architecture's tested recipe)")
    p.add_argument("--out", required=True, help="the folder to save the model in")
    p.add_argument("--overwrite", action="store_true", help="allow an --out folder that already holds Lethe files")
    p.add_argument("--yes", action="store_true", help="go ahead even when the training is estimated to take hours")
    common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("unlearn", help="run one unlearning job described in a JSON file and save the result",
                       description=("Run one unlearning job described in a JSON file (the studio's Copy as command "
                                    "writes one): load the data and the model, make it forget, measure it, and "
                                    "save the results (record.json) and the new model's weights in a folder."))
    p.add_argument("spec", help="the job file (JSON)")
    p.add_argument("--out", required=True, help="the folder for the results and the unlearned model")
    p.add_argument("--overwrite", action="store_true",
                   help="allow an --out folder that already holds Lethe files (the job's own input files are never replaced)")
    p.add_argument("--yes", action="store_true",
                   help="go ahead even when the trainings are estimated to take hours")
    p.add_argument("--quiet", action="store_true", help="do not show progress")
    p.add_argument("--seeds", type=int, default=1,
                   help="run the job with N seeds (the spec's seed, +1, ...) on an executor; each run in OUT/seed-S/, "
                        "mean ± std of every metric in OUT/seeds.json")
    p.add_argument("--workers", type=int, help="with --seeds: seeds run in parallel (default: min(N, 2))")
    p.add_argument("--executor", choices=["local", "ray", "inline"], default="local",
                   help="with --seeds: where the seeds run (local: worker processes)")
    p.set_defaults(func=cmd_unlearn)

    p = sub.add_parser("inspect", help="check whether a saved model file can be used, and why not",
                       description=("Read a saved model file and say what Lethe finds in it: its format, its "
                                    "architecture, its classes, how its inputs are scaled, and the first thing that "
                                    "does not fit. Exit status 0 when it can be used as is."))
    p.add_argument("path", help="a saved model file (.pt .pth .pth.tar .tar .ckpt .bin .safetensors)")
    p.add_argument("--arch", help="the architecture, when the file does not say (a Lethe model, torchvision:NAME, "
                                  "timm:NAME, or one added with --plugin)")
    p.add_argument("--dataset", help="also check that it fits this dataset (number of classes, colour, image size)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("export", help="save a model as a plain PyTorch file for use outside Lethe",
                       description=("Save a Lethe model as a plain PyTorch weights file (.pt) that other programs can "
                                    "load, with a .json file beside it listing its classes, its input scaling and "
                                    "the classes it must never predict (the forgotten ones)."))
    p.add_argument("checkpoint", help="a model saved by Lethe, e.g. out/unlearned.safetensors")
    p.add_argument("--out", required=True, help="the .pt file to write (a .json file is written beside it)")
    p.add_argument("--names", choices=["native", "lethe"], default="native",
                   help="layer names: native, as the original library names them (torchvision, timm); or lethe's own")
    p.add_argument("--overwrite", action="store_true", help="replace the files if they exist")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("methods", help="list the unlearning methods and their settings",
                       description="List every unlearning method with what it does and the settings it takes.")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("report", help="write a web page (HTML) that explains a result",
                       description=("Write one HTML file, readable in any browser, that explains a result: what was "
                                    "forgotten, the measurements, and the verdicts, with example images."))
    p.add_argument("record", help="the record.json saved by 'unlearn' or by the studio")
    p.add_argument("--out", required=True, help="the .html file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never the record itself)")
    p.add_argument("--no-thumbnails", action="store_true", help="leave out the example images (the dataset is not needed)")
    p.add_argument("--quiet", action="store_true", help="do not show progress")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("figure", help="draw a picture of the model's view of the data before and after forgetting",
                       description=("Run a method and save a PNG picture: each image of a sample as a point, placed by "
                                    "how the model sees it, before and after the method (the README's figure)."))
    p.add_argument("--method", default="pour_d", help="the unlearning method")
    p.add_argument("--forget-class", type=int, default=3, help="the class to forget, by number")
    p.add_argument("--dataset", default="digits", help="the dataset")
    p.add_argument("--model", default="cnn_small", help="the model architecture")
    p.add_argument("--out", required=True, help="the .png file to write (a folder: embedding-METHOD.png in it)")
    common(p)
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser("bench", help="measure speed: how long methods take compared with retraining",
                       description=("Time the methods on this machine and print the ratios. pour: POUR-P and POUR-D "
                                    "against one pass over the forget images and against retraining. features: "
                                    "Lethe's way of running a model over many images against the plainest loop. "
                                    "methods: every method's results and its time divided by retraining's. "
                                    "ensemble: shadow models trained together (vmap) against one by one. executors: W parallel workers "
                                    "against one. Times are each method's own work: no pictures, no measurements, no audit."))
    p.add_argument("suite", choices=["pour", "features", "methods", "ensemble", "executors", "all"],
                   help="what to measure; all: every suite on --dataset/--model, then on ../shared/data's subsets when present")
    p.add_argument("--dataset", default="digits", help="the dataset")
    p.add_argument("--model", default="cnn_small", help="the model architecture")
    p.add_argument("--forget-class", type=int, default=3, help="pour suite: the class to forget")
    p.add_argument("--forget", default="class:3", help="methods suite: class:K[,K2] or fraction:F")
    p.add_argument("--only", help="methods suite: comma-separated method names; NAME@PRESET for one method with its own preset (default: all)")
    p.add_argument("--seeds", type=int, default=1, help="methods suite: repeat with N seeds, report mean ± spread")
    p.add_argument("--preset", default="paper",
                   help="methods suite: settings to use: paper (the published ones) or small (tuned for small data)")
    p.add_argument("--out", help="also save the results as JSON in this file (a folder: bench-SUITE.json in it)")
    p.add_argument("--k", type=int, default=16, help="ensemble suite: shadow models trained together")
    p.add_argument("--epochs", type=int, default=2, help="ensemble suite: epochs of each model")
    p.add_argument("--repeats", type=int, default=2, help="ensemble suite: interleaved timed runs of each way")
    p.add_argument("--vmap-threads", type=int, help="ensemble suite: also time vmap on this many torch threads")
    p.add_argument("--workers", type=int,
                   help="executors suite: parallel workers (default 2); methods suite: seeds run in parallel, one per "
                        "worker, each seed's ratios measured inside its worker (default 1: one after the other)")
    p.add_argument("--trials", type=int, default=8, help="executors suite: jobs timed each way (default 8)")
    p.add_argument("--executor", choices=["local", "ray", "inline"], default="local", help="executors suite: which executor")
    common(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ensemble", help="a stricter privacy test: compare the method with retraining over many models",
                       description=("Train K models and make each forget with the method, train K models from scratch "
                                    "without the forget set, and measure how well the two groups can be told apart. "
                                    "klom: how differently each image is scored by the two groups (0 is ideal). "
                                    "ulira: how well an attacker tells an unlearned model from a retrained one on the "
                                    "forget images (0.5 is ideal). Slow: 2K trainings (kept for reuse). Prints a "
                                    "table with what the numbers mean; --json prints the raw numbers."))
    p.add_argument("kind", choices=["klom", "ulira"], help="which test (see above)")
    p.add_argument("--method", required=True, help="the unlearning method, or 'original' for no unlearning")
    p.add_argument("--k", type=int, default=4, help="models per group (more: slower and more reliable)")
    p.add_argument("--dataset", default="digits", help="the dataset")
    p.add_argument("--model", default="mlp", help="the model architecture")
    p.add_argument("--forget-class", type=int, default=3, help="the class to forget, by number")
    p.add_argument("--preset", default="paper",
                   help="the method's settings: paper (the published ones) or small (tuned for small data)")
    p.add_argument("--epochs", type=int, help="passes over the training data for every model (default: the recipe's)")
    p.add_argument("--json", action="store_true", help="print the raw numbers as JSON instead of the table")
    p.add_argument("--batched", default="auto", choices=["auto", "vmap", "sequential"],
                   help="train the models together with vmap (auto: on a GPU) or one by one")
    p.add_argument("--workers", type=int,
                   help="train the shadow models that are not vmapped in this many parallel worker processes "
                        "(default: one by one in this process)")
    common(p)
    p.set_defaults(func=cmd_ensemble)

    from engine.cli.sweep import add_parser as add_sweep

    add_sweep(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    plugins = _take_plugins(argv)  # --plugin may also follow the command
    args = parser.parse_args(argv)
    try:
        from engine.models import load_plugin

        for plugin in [*args.plugins, *plugins]:
            load_plugin(plugin)
        return int(args.func(args))
    except JobFailed as exc:
        print(str(exc), file=sys.stderr)
        return 1 if exc.event.internal else 2
    except LetheError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


def _take_plugins(argv: list[str]) -> list[str]:
    """Remove ``--plugin X`` / ``--plugin=X`` that follow the command from ``argv``; return the files."""
    found: list[str] = []
    if not argv or argv[0].startswith("-"):
        return found
    i = 1
    while i < len(argv):
        if argv[i] == "--plugin" and i + 1 < len(argv):
            found.append(argv[i + 1])
            del argv[i : i + 2]
        elif argv[i].startswith("--plugin="):
            found.append(argv.pop(i).split("=", 1)[1])
        else:
            i += 1
    return found


if __name__ == "__main__":
    sys.exit(main())
