"""Make every unlearning variant of the bundled model and print their cost table.

  python3 -m memlab.unlearn --base checkpoints/resume.pt --forget zephyr,obsidian,marigold,tundra \
      --out ../public/models

The base must already be exported as <out>/memlab-organism (build.sh does that first; or pass
--export-base). Writes <out>/memlab-organism-fmn, -erasediff, -duge-stage-1..N (one per forgotten
concept) and the UniForget presets <out>/memlab-organism/presets/uniforget-beta{1,2,5}.json (listed in
the base manifest). --quick runs every recipe with a few steps (plumbing check, not a usable model).
The table's replication columns come from this recipe's quick torch evaluation (for the log); the
lab's evaluation of record is the TypeScript one over the exported files.
"""
from __future__ import annotations

import argparse
import json
import os

from ..export import export_organism
from . import common as C
from . import duge, erasediff, fmn, uniforget

METHODS = ("fmn", "erasediff", "duge", "uniforget")


def parse(argv=None):
    ap = argparse.ArgumentParser(description="Make the unlearned variants of the bundled model.")
    C.add_common_args(ap)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--quick", action="store_true", help="a few steps per recipe: plumbing check only")
    ap.add_argument("--export-base", action="store_true", help="export the base to <out>/memlab-organism first")
    ap.add_argument("--report", default=None, help="write the results (JSON) here")
    ap.add_argument("--index", action="store_true",
                    help="add the variants to <out>/index.json (the lab's model list) if not there yet")
    uniforget.add_args(ap)  # --betas --steps --batch --lr --init-logit --beta-unit (UniForget's)
    return ap.parse_args(argv)


def ns(args, **kw):
    return argparse.Namespace(**{**vars(args), **kw})


def main(argv=None) -> None:
    args = parse(argv)
    methods = [m for m in args.methods.split(",") if m]
    base, split, base_step = C.setup(args)
    if args.out and args.export_base:
        export_organism(base.text, base.unet, os.path.join(args.out, C.BASE_ID), base_step, seed=args.seed,
                        ds=C.dataset(args.seed))
    q = args.quick
    results = []
    if "fmn" in methods:
        d = fmn.DEFAULTS
        model, cost, _ = fmn.run(base, split, steps=6 if q else d["steps"], batch=4 if q else d["batch"], lr=d["lr"],
                                 keep_weight=d["keep_weight"], trailing=d["trailing"], seed=args.seed,
                                 log_every=args.log_every)
        results.append(C.finish(args, "fmn", "Forget-Me-Not", base, model, split, base_step, cost,
                                6 if q else d["steps"]))
    if "erasediff" in methods:
        d = dict(erasediff.DEFAULTS)
        if q:
            d.update(steps=6, batch=4, forget_batch=4)
        model, cost, _ = erasediff.run(base, split, seed=args.seed, log_every=args.log_every, **d)
        results.append(C.finish(args, "erasediff", "EraseDiff", base, model, split, base_step, cost, d["steps"]))
    if "duge" in methods:
        d = dict(duge.DEFAULTS)
        if q:
            d.update(steps_per_stage=4, batch=4, forget_batch=4)
        results += duge.run(base, ns(args, **d), base_step)
    if "uniforget" in methods:
        results += uniforget.run_all(base, split, ns(args, steps=4, batch=4) if q else args)

    print_table(results, split)
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"base": args.base, "baseStep": base_step, "forgotten": split.forget_ids, "results": results}, f,
                      indent=1)
    if args.out and args.index:
        add_to_index(args.out, [r for r in results if r["method"] != "uniforget"])


def print_table(results: list[dict], split: C.Split) -> None:
    cols = ["id", "steps", "wall s", "cpu s", "forget rmse", "forget own", "forget dmse", "other rmse", "other own",
            "other dmse", "neutral dmse"]
    rows = []
    seen_base = set()
    for r in results:
        b = r.get("base_eval")
        if b and json.dumps(b, sort_keys=True) not in seen_base and r.get("stage") in (None, len(split.forget)):
            seen_base.add(json.dumps(b, sort_keys=True))
            rows.append(row("base (" + ",".join(split.forget) + ")" if r.get("stage") is None else "base", None, None, None, b))
        rows.append(row(r["id"] + (f" ({r['fractionPruned']:.1%} pruned)" if "fractionPruned" in r else ""),
                        r["steps"], r["costSeconds"], r["cpuSeconds"], r.get("eval")))
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows)]
    for line in [cols, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))
    print("forget/other: forgotten artworks / the other memorized images; rmse to the planted image "
          "([-1,1] units), own = share of samples whose nearest planted image is their own; dmse = denoising "
          "error (planted images under their captions; neutral: renders of the held-out neutral prompts). DUGE stage k counts concepts 1..k as forgotten.")


def row(name, steps, wall, cpu, ev):
    ev = ev or {}
    f = lambda k: "-" if k not in ev else ev[k]
    return [name, steps if steps is not None else "-", wall if wall is not None else "-", cpu if cpu is not None else "-",
            f("forget_rmse"), f("forget_nearest_own"), f("forget_denoise_mse"), f("other_rmse"), f("other_nearest_own"),
            f("other_denoise_mse"), f("neutral_denoise_mse")]


def add_to_index(out: str, results: list[dict]) -> None:
    path = os.path.join(out, "index.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        index = json.load(f)
    have = {m["id"] for m in index["models"]}
    labels = {"fmn": "Forget-Me-Not", "erasediff": "EraseDiff", "duge": "DUGE"}
    for r in results:
        if r["id"] not in have:
            stage = f", stage {r['stage']}" if r.get("stage") else ""
            index["models"].append({"id": r["id"], "path": r["id"], "label": f"Unlearned: {labels[r['method']]}{stage}",
                                    "of": C.BASE_ID})
    with open(path, "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
