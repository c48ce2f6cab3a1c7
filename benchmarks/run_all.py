"""`make bench`: every benchmark in one run, one table printed, JSON written to benchmarks/results/.

Usage: python benchmarks/run_all.py [--runs 10] [--skip notebooks,ddp,...]
Timings are only comparable inside one run (shared, noisy machines): ratios are what count.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from course_lib.training import environment_line  # noqa: E402


def notebooks_fast_seconds() -> dict:
    """Wall time of executing every lesson, review and summary notebook in fast mode."""
    import nbformat
    from nbclient import NotebookClient

    env_before = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1"
    per = {}
    try:
        for folder in ("notebooks", "quizzes", "summaries"):
            for path in sorted((HERE.parent / folder).glob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                start = time.perf_counter()
                NotebookClient(nb, timeout=600, kernel_name="python3",
                               resources={"metadata": {"path": str(path.parent)}}).execute()
                per[f"{folder}/{path.name}"] = time.perf_counter() - start
    finally:
        if env_before is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = env_before
    return {"total_seconds": sum(per.values()), "per_notebook": per}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10,
                        help="course recipe runs, seeds 0..runs-1 (median and spread reported)")
    parser.add_argument("--skip", default="", help="comma list of: mnist,overhead,throughput,compile,ddp,notebooks")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ.pop("COURSE_FAST", None)  # benchmarks use the full data
    import mnist_recipes
    import throughput

    results: dict = {"environment": environment_line(), "date": time.strftime("%Y-%m-%d %H:%M")}
    rows: list[tuple[str, str, str, str, str, str]] = []  # recipe, params, epochs, time, accuracy, ratio
    if "mnist" not in skip:
        mn = results["mnist"] = mnist_recipes.compare(runs=args.runs)
        c, b = mn["course"], mn["baseline"]
        first = c["runs"][0]
        rows.append(("course_lib default (median of %d)" % args.runs, f"{first['params']:,}",
                     str(first["epochs"]), f"{c['median_seconds']:.1f} s total",
                     "held over the last 2 epochs: " + ", ".join(f"{a:.2%}" for a in c["min_acc_last_two"])
                     + f" (median {statistics.median(c['min_acc_last_two']):.2%})",
                     f"time-to-99%: {c['median_time_to_99']:.1f} s"))
        rows.append(("pytorch/examples baseline", f"{b['params']:,}", str(len(b["seconds"])),
                     f"{statistics.median(b['seconds']):.1f} s/epoch ({min(b['seconds']):.1f}-"
                     f"{max(b['seconds']):.1f})",
                     ", ".join(f"{a:.2%}" for a in b["test_acc"]),
                     f"time-to-99%: {b['time_to_target'] or float('nan'):.1f} s"))
        rows.append(("ratio time-to-99% (course / baseline)", "", "", "", "",
                     f"{mn['ratio_time_to_99']:.3f}" if mn["ratio_time_to_99"] else "n/a"))
        goal = mn["goal"]
        rows.append(("course training time / one baseline epoch", "", "", "per seed (each against the baseline "
                     "epoch run just before it): " + ", ".join(
                     f"{r:.2f}" for r in goal["ratios"]), f"goal {goal['goal']}: {goal['verdict']}",
                     f"median {goal['median_ratio']:.2f} [{goal['min_ratio']:.2f}-{goal['max_ratio']:.2f}]"))
    if "overhead" not in skip:
        ov = results["fit_overhead"] = throughput.fit_overhead()
        rows.append(("fit() vs bare loop (MNIST, bf16)", "", "1", f"{ov['fit_images_per_s']:.0f} vs "
                     f"{ov['bare_images_per_s']:.0f} img/s", "", f"ratio {ov['ratio']:.3f}"))
    if "throughput" not in skip:
        for dataset in ("mnist", "cifar10"):
            rows_tp = results[f"{dataset}_throughput"] = throughput.model_throughput(dataset)
            base = rows_tp[0]["images_per_s"]
            for r in rows_tp:
                rows.append((f"{dataset} model {r['precision']}, channels_last={r['channels_last']}", "",
                             "", f"{r['images_per_s']:.0f} img/s", "", f"x{r['images_per_s'] / base:.2f} vs fp32"))
    if "compile" not in skip:
        cp = results["compile"] = throughput.compile_payoff("mnist")
        pays = (f"pays after {cp['break_even_epochs']:.1f} epochs" if cp["break_even_epochs"]
                else "never pays (not faster)")
        rows.append(("mnist model bf16, torch.compile", "", "", f"{cp['compiled_images_per_s']:.0f} vs "
                     f"{cp['eager_images_per_s']:.0f} img/s eager", f"compile {cp['compile_seconds']:.0f} s",
                     pays))
    if "ddp" not in skip and (HERE / "ddp_throughput.py").exists():
        proc = subprocess.run([sys.executable, str(HERE / "ddp_throughput.py")], capture_output=True,
                              text=True, timeout=1200)
        results["ddp_throughput"] = proc.stdout
        print(proc.stdout, proc.stderr[-2000:] if proc.returncode else "")
    if "notebooks" not in skip:
        nb = results["notebooks_fast"] = notebooks_fast_seconds()
        rows.append(("notebook suite, fast mode", "", "", f"{nb['total_seconds']:.0f} s", "",
                     f"{len(nb['per_notebook'])} notebooks"))
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    table = f"{results['environment']}, {results['date']}\n\n" + markdown_table(
        ("recipe", "params", "epochs", "time", "accuracy", "ratio"), rows)
    (out_dir / "latest.md").write_text(table + "\n")
    print("\n" + table)
    print(f"\nJSON: {out_dir / 'latest.json'}; the table as markdown (for the README): {out_dir / 'latest.md'}")
    return 0


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """`rows` under `header` as an aligned markdown table (readable as text, renders on GitHub)."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = [header, tuple("-" * w for w in widths)] + rows
    return "\n".join("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |" for r in lines)


if __name__ == "__main__":
    sys.exit(main())
