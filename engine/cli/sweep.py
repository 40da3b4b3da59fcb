"""``python -m engine sweep SPEC.json --trials N --workers W --executor local|ray [--address ADDR] --out DIR``.

Searches the spec's method's hyperparameters with Optuna (:mod:`engine.executors.sweep`: the
search space, the objective, resume and the output are documented there), prints each trial as it
ends (stderr) and the table of trials with the Pareto front (stdout). ``--save-preset NAME`` saves
the best trial's hyperparameters as a user preset that ``"preset": NAME`` in a JobSpec resolves.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from engine._core.cancel import CancelToken
from engine._core.errors import BadSpec
from engine.executors import EXECUTORS, default_workers, make_executor
from engine.executors.sweep import SAMPLERS, SweepConfig, SweepFinished, TrialDone, best_params, run_sweep, save_preset
from engine.runs.spec import JobSpec


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sweep", help="search a method's hyperparameters with Optuna (resumable); write DIR/sweep.json")
    p.add_argument("spec", help="a JobSpec JSON: method, dataset, model, forget set (its params stay fixed)")
    p.add_argument("--trials", type=int, default=20, help="trials in total; earlier trials in --out count (default 20)")
    p.add_argument("--workers", type=int, default=None, help="jobs at once (default: one per core)")
    p.add_argument("--executor", choices=EXECUTORS, default="local")
    p.add_argument("--address", help="ray: the cluster to join (default: a local Ray)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per trial (spec seed, +1, ...); metrics are their means")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    p.add_argument("--sampler-seed", type=int, default=0)
    p.add_argument("--only", help="comma-separated hyperparameters to search (default: every bounded one)")
    p.add_argument("--bounds", action="append", default=[], metavar="NAME=LO:HI",
                   help="narrow one hyperparameter's range (repeatable), e.g. lr=1e-4:0.1")
    p.add_argument("--span", type=float, default=10.0,
                   help="numeric fields stay within [default / SPAN, default x SPAN] of their Params bounds "
                        "(default 10; 0 = the full bounds)")
    p.add_argument("--out", required=True, help="the sweep folder (journal + sweep.json); run again to resume")
    p.add_argument("--save-preset", metavar="NAME", help="save the best trial as the user preset NAME")
    p.add_argument("--quiet", action="store_true", help="no per-trial lines on stderr")
    p.set_defaults(func=cmd_sweep)


def _bounds(items: list[str]) -> tuple[tuple[str, float, float], ...]:
    out = []
    for item in items:
        name, sep, rng = item.partition("=")
        lo, sep2, hi = rng.partition(":")
        try:
            if not (sep and sep2):
                raise ValueError
            out.append((name.strip(), float(lo), float(hi)))
        except ValueError:
            raise BadSpec(f"--bounds {item!r}: expected NAME=LO:HI, e.g. lr=1e-4:0.1") from None
    return tuple(out)


def cmd_sweep(args: argparse.Namespace) -> int:
    spec = JobSpec.load(args.spec)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip()) if args.only else None
    config = SweepConfig(spec, trials=args.trials, seeds=args.seeds, sampler=args.sampler,
                         sampler_seed=args.sampler_seed, only=only, bounds=_bounds(args.bounds),
                         span=args.span)
    config.check()
    workers = args.workers if args.workers is not None else default_workers()
    token = CancelToken()
    summary: dict[str, Any] = {}
    with make_executor(args.executor, workers, address=args.address) as executor:
        gen = run_sweep(config, executor, args.out, token=token)
        try:
            for ev in gen:
                if isinstance(ev, TrialDone) and not args.quiet:
                    print(_trial_line(ev), file=sys.stderr, flush=True)
                elif isinstance(ev, SweepFinished):
                    summary = ev.summary
                    print(f"wrote {ev.path}", file=sys.stderr)
                elif hasattr(ev, "message") and not hasattr(ev, "fraction") and not args.quiet:
                    print(ev.message, file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            token.cancel()
            gen.close()
            raise
    print(format_summary(summary))
    if args.save_preset:
        params = best_params(summary)
        if params is None:
            raise BadSpec("--save-preset: no trial completed, nothing to save")
        path = save_preset(args.save_preset, spec.method, params, note=f"best trial of the sweep in {args.out}")
        print(f"\nsaved the best trial as preset {args.save_preset!r} of {spec.method} ({path}); "
              f'use it with "preset": "{args.save_preset}"')
    return 0


def _trial_line(ev: TrialDone) -> str:
    t = ev.trial
    if t["state"] != "complete":
        return f"trial {t['number']}: {t['state']} ({t.get('error', '')}) [{ev.done}/{ev.total}]"
    m = t["metrics"]
    return (f"trial {t['number']}: distance {m['distance']:.3f} (forgetting gap {m['forgetting_gap']:.3f}, utility gap "
            f"{m['utility_gap']:.3f}, cost {m['cost']:.2f}) {t['seconds'].get('wall', 0):.1f} s [{ev.done}/{ev.total}]")


def format_summary(summary: dict[str, Any]) -> str:
    """The trials as a text table; Pareto trials starred, the best marked."""
    if not summary:
        return "no trials"
    lines = [f"Sweep of {summary['method']}: {len(summary['trials'])} trials; {summary['objective']}.",
             "* = on the Pareto front (forgetting gap, utility gap, cost); > = lowest distance", ""]
    lines.append(f"{'':2}{'#':>4} {'distance':>9} {'forget gap':>10} {'utility gap':>11} {'cost':>7} {'s':>6}  params")
    pareto = set(summary["pareto"])
    for i, t in enumerate(summary["trials"]):
        mark = (">" if i == summary.get("best") else " ") + ("*" if i in pareto else " ")
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in t["params"].items())
        if t["state"] != "complete":
            lines.append(f"{mark}{t['number']:>4} {t['state']:>9}  {params}  ({t.get('error', '')})")
            continue
        m = t["metrics"]
        lines.append(f"{mark}{t['number']:>4} {m['distance']:>9.3f} {m['forgetting_gap']:>10.3f} {m['utility_gap']:>11.3f} "
                     f"{m['cost']:>7.2f} {t['seconds'].get('wall', 0):>6.1f}  {params}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
