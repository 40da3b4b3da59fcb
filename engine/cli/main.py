"""Command line: ``python -m engine demo | train | unlearn | inspect | methods | bench | report | ensemble``.

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
from engine.cli.format import ProgressPrinter, describe_method, failure_line, format_table
from engine._core.errors import BadRecord, BadSpec, LetheError, NotWritable, WouldOverwrite
from engine._core.events import Failed, Finished
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
    print("\nAccuracies in %. forget / retain: training images of the forget / retain set; test forget / retain:"
          " test images of the forgotten / other classes. RUS(o), RUS(r): representation unlearning score against"
          " the original / the retrained model (higher = more forgotten in the features). rMIA: forget images"
          " called 'member' by a feature-level membership attack (lower is better). seconds: the method alone"
          " (Original: training or cache load).")
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
    bundle = None if args.no_thumbnails else load_bundle_for(record)
    with protect_inputs([path, record.weights]):
        try:
            out = write_report(record, target, bundle=bundle)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # a record.json from elsewhere may lack what a run writes (verdict fields, audit details)
            raise BadRecord(f"{path} is not a complete Lethe record ({type(exc).__name__}: {exc})") from exc
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
    # The spec file is an input too; the Runner protects the checkpoint and dataset files.
    with protect_inputs([args.spec]), OutputFolder.claim(out, overwrite=args.overwrite) as folder:
        record = run_job(Runner(), spec, ProgressPrinter(quiet=args.quiet), out_dir=folder)
    print(format_table([*record.references, record]))
    print(f"\nwrote {out / 'record.json'} and {record.weights}")
    return 0


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
    path = embedding_before_after(frames["original"], frames["unlearn"], record.dataset["classes"], args.out,
                                  title_after=f"after {record.label}", ghost=frames.get("retrain"))
    print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
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
    gen = job(bundle, split, args.model, recipe, args.method, params, k=args.k, seed=args.seed, device=device,
              token=token)
    result = drive(gen, printer, token)
    print(dumps_json(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lethe-engine", description="Lethe engine: machine unlearning from the command line.")
    parser.add_argument("--plugin", action="append", default=[], dest="plugins", metavar="FILE.py",
                        help="a Python file that registers models (engine.models.register_module); repeatable")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("demo", help="forget one class of digits with a method; compare with Original and Retrain")
    p.add_argument("--method", default="pour_p")
    p.add_argument("--forget-class", type=int, default=3)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model", default="cnn_small")
    p.add_argument("--json", action="store_true", help="print the run records as JSON")
    common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train an original model and save it as a checkpoint")
    p.add_argument("--dataset", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--epochs", type=int)
    p.add_argument("--out", required=True, help="folder for model.safetensors + model.json")
    p.add_argument("--overwrite", action="store_true", help="allow an --out that already holds Lethe files")
    p.add_argument("--yes", action="store_true", help="run even when the training is estimated to take hours")
    common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("unlearn", help="run a JobSpec JSON; write record.json and the unlearned weights")
    p.add_argument("spec")
    p.add_argument("--out", required=True, help="folder for record.json + unlearned.safetensors + unlearned.json")
    p.add_argument("--overwrite", action="store_true",
                   help="allow an --out that already holds Lethe files (the run's own inputs are never replaced)")
    p.add_argument("--yes", action="store_true",
                   help='run even when the trainings are estimated to take hours (as "confirm_cost": true)')
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_unlearn)

    p = sub.add_parser("inspect", help="what Lethe sees in a checkpoint: format, wrapper, mapping, architecture, "
                                       "classes, input normalisation, first mismatch")
    p.add_argument("path", help="a checkpoint file (.pt .pth .pth.tar .tar .ckpt .bin .safetensors)")
    p.add_argument("--arch", help="the architecture (a Lethe model, torchvision:<builder>, timm:<name>, a plugin's)")
    p.add_argument("--dataset", help="check it against this dataset (class count, channels, image size)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("export", help="write a checkpoint as a plain .pt state dict (optionally under the architecture's "
                                      "own names) with its logit mask, normalisation and classes beside it")
    p.add_argument("checkpoint", help="a Lethe checkpoint, e.g. out/unlearned.safetensors")
    p.add_argument("--out", required=True, help="the .pt file to write (FILE.json is written beside it)")
    p.add_argument("--names", choices=["native", "lethe"], default="native",
                   help="native: torchvision / timm / plugin names (fc, classifier.3, ...); lethe: head")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("methods", help="list the registered methods and their hyperparameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("report", help="write a self-contained HTML audit report of a record.json")
    p.add_argument("record", help="record.json written by 'unlearn' (or the studio)")
    p.add_argument("--out", required=True, help="the .html file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never the record itself)")
    p.add_argument("--no-thumbnails", action="store_true", help="do not load the dataset for image thumbnails")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("figure", help="PNG of the probe embedding before and after a method (README figure)")
    p.add_argument("--method", default="pour_d")
    p.add_argument("--forget-class", type=int, default=3)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model", default="cnn_small")
    p.add_argument("--out", required=True)
    common(p)
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser("bench", help="measured ratios: pour, features, methods")
    p.add_argument("suite", choices=["pour", "features", "methods", "all"],
                   help="all: every suite on --dataset/--model, then on ../shared/data's subsets when present")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model", default="cnn_small")
    p.add_argument("--forget-class", type=int, default=3, help="pour suite: the class to forget")
    p.add_argument("--forget", default="class:3", help="methods suite: class:K[,K2] or fraction:F")
    p.add_argument("--only", help="methods suite: comma-separated method names, NAME@PRESET for one method with its own preset (default: all)")
    p.add_argument("--seeds", type=int, default=1, help="methods suite: repeat with N seeds, report mean ± std")
    p.add_argument("--preset", default="paper", help="methods suite: hyperparameter preset (paper, small)")
    p.add_argument("--out", help="also write the results as JSON here")
    common(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ensemble", help="shadow-ensemble privacy metrics: KLoM (B7) or U-LiRA (B5) over K seeds")
    p.add_argument("kind", choices=["klom", "ulira"])
    p.add_argument("--method", required=True, help="a registered method, or 'original' for no unlearning")
    p.add_argument("--k", type=int, default=4, help="shadow pairs (K originals + K retrains are trained, cached)")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model", default="mlp")
    p.add_argument("--forget-class", type=int, default=3)
    p.add_argument("--preset", default="paper", help="the method's hyperparameter preset (paper, small)")
    p.add_argument("--epochs", type=int, help="override the training recipe's epochs (all shadows)")
    common(p)
    p.set_defaults(func=cmd_ensemble)
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
