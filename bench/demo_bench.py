"""Demo benchmark: the stage times of a first and a second (incremental) `lakehouse demo`,
and how the dbt stage under Dagster compares with a plain `dbt build` of the same selection
in the same state. Prints figures; not a test.

Each run starts from an empty data folder, parses the dbt project for it as `make setup` does
for the default one, and runs the demo twice, each in its own process (so start-up counts,
as for `make demo`). Inside the dbt stage the bench copies the data folder aside, lets
Dagster build, then puts the copy back and runs `dbt build` in the same environment, with
the parse state the Dagster step started from, and finally restores what Dagster built:
both builds start from the same state, and the plain one runs second, with the warmer file
cache. Medians over the runs; the load average is printed before and after (the machine may
be shared: compare the ratios, measured back to back, rather than the seconds).

    .venv/bin/python bench/demo_bench.py [--runs 3] [--scale 0.01]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import children_cpu

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# what a dbt build reads and changes: the lake, its DuckLake catalog, the warehouse file
STATE = ("lake", "lake.sqlite", "lake.sqlite-wal", "warehouse.duckdb", "serving")


def _mirror(src: Path, dst: Path) -> None:
    """Make dst's copy of the state exactly src's."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in STATE:
        target = dst / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if (src / name).is_dir():
            shutil.copytree(src / name, target)
        elif (src / name).exists():
            shutil.copy2(src / name, target)


def cpu_seconds() -> float:
    """CPU of this process and its finished children (dbt runs as a child process)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + children_cpu()


def _dbt(settings, args: list[str], target: Path) -> None:
    """dbt outside Dagster, started as the pipeline starts it, with its variables."""
    from lake import Lake
    from orchestration.dbt_targets import dbt_command

    env = {
        **os.environ,
        **settings.dbt_env(Lake.from_url(settings.lake_url).uri()),
        "DBT_INDIRECT_SELECTION": "buildable",
    }
    subprocess.run(
        dbt_command(*args, "--target-path", str(target)),
        env=env,
        check=False,
        capture_output=True,
    )


def parse_state(data_dir: Path) -> Path:
    """The parse state the next dbt step of this data folder starts from (dbt_targets.py),
    else the one of the repository's target folder (dagster-dbt's fallback)."""
    from orchestration.dbt_targets import PARTIAL_PARSE, targets_root
    from orchestration.settings import DBT_PROJECT_DIR

    shared = targets_root(data_dir) / PARTIAL_PARSE
    return shared if shared.exists() else DBT_PROJECT_DIR / "target" / PARTIAL_PARSE


def parse_like_setup(data_dir: Path, scale: str) -> None:
    """What `make setup` does for the default data folder: a dbt parse with its variables,
    kept where the demo's dbt steps look for it."""
    from orchestration.dbt_targets import PARTIAL_PARSE, targets_root
    from orchestration.settings import Settings

    settings = Settings.from_env({**os.environ, "DATA_DIR": str(data_dir), "DATAGEN_SCALE": scale})
    target = data_dir / "setup-parse"
    _dbt(settings, ["parse"], target)
    targets_root(data_dir).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target / PARTIAL_PARSE, targets_root(data_dir) / PARTIAL_PARSE)
    shutil.rmtree(target)


def plain_dbt_build(settings, target: Path, state: Path) -> tuple[float, float]:
    """The pipeline's `dbt build` (PIPELINE_BUILD) from the given parse state."""
    from orchestration.assets.dbt import PIPELINE_BUILD

    target.mkdir(parents=True, exist_ok=True)
    if state.exists():
        shutil.copyfile(state, target / "partial_parse.msgpack")
    started, cpu = time.perf_counter(), children_cpu()
    _dbt(settings, list(PIPELINE_BUILD), target)
    return time.perf_counter() - started, children_cpu() - cpu


def dbt_elapsed(target: Path) -> float:
    """dbt's own time for the build (run_results.json): from the end of parsing to the end."""
    results = target / "run_results.json"
    return json.loads(results.read_text())["elapsed_time"] if results.exists() else 0.0


def one_demo(data_dir: Path, scale: str) -> dict:
    """Runs in the child process: the demo, with the plain build measured inside its dbt stage."""
    import orchestration.demo as demo
    from orchestration.pipeline import TRANSFORM
    from orchestration.settings import Settings

    settings = Settings.from_env({**os.environ, "DATA_DIR": str(data_dir), "DATAGEN_SCALE": scale})
    extra = {"baseline_s": 0.0, "bench_overhead_s": 0.0, "dagster_dbt_s": 0.0}
    real_pipeline = demo.run_pipeline

    def measured_pipeline(defs, instance, run_config, stage):
        def measured_stage(name, fn):
            if name != TRANSFORM:
                return stage(name, fn)
            before, after = data_dir / "baseline-before", data_dir / "baseline-after"
            started = time.perf_counter()
            _mirror(data_dir, before)
            state = before / "partial_parse.msgpack"
            shutil.copyfile(parse_state(data_dir), state)
            extra["bench_overhead_s"] += time.perf_counter() - started
            started, cpu = time.perf_counter(), cpu_seconds()
            result = stage(name, fn)
            extra["dagster_dbt_s"] = time.perf_counter() - started
            extra["dagster_dbt_cpu_s"] = cpu_seconds() - cpu
            started = time.perf_counter()
            _mirror(data_dir, after)
            _mirror(before, data_dir)
            extra["bench_overhead_s"] += time.perf_counter() - started
            extra["baseline_s"], extra["baseline_cpu_s"] = plain_dbt_build(
                settings, data_dir / "baseline-target", state
            )
            extra["baseline_own_s"] = dbt_elapsed(data_dir / "baseline-target")
            started = time.perf_counter()
            _mirror(after, data_dir)
            for folder in (before, after, data_dir / "baseline-target"):
                shutil.rmtree(folder, ignore_errors=True)
            extra["bench_overhead_s"] += time.perf_counter() - started
            return result

        return real_pipeline(defs, instance, run_config, measured_stage)

    demo.run_pipeline = measured_pipeline
    report = demo.run_demo(settings, quiet=True)
    extra["dagster_dbt_own_s"] = report.dbt.get("elapsed_s") or 0.0
    return {"stages": dict(report.stages), **extra}


def run_child(data_dir: Path, scale: str) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir), "--scale", scale],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    wall = time.perf_counter() - started
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # what `make demo` would have taken: the process, less the bench's own work
    result["wall_s"] = wall - result["baseline_s"] - result["bench_overhead_s"]
    return result


def _loads(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f}" if values else "     -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", default="0.01")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_demo(Path(args.child), args.scale)))
        return

    results: dict[str, list[dict]] = {"first": [], "second": []}
    loads = [os.getloadavg()]
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
            parse_like_setup(Path(tmp), args.scale)
            for which in ("first", "second"):
                result = run_child(Path(tmp), args.scale)
                results[which].append(result)
                dbt, plain = result["dagster_dbt_s"], result["baseline_s"]
                print(
                    f"run {run + 1} {which}: {result['wall_s']:.1f} s in all, "
                    f"dbt stage {dbt:.1f} s, plain dbt build {plain:.1f} s "
                    f"(ratio {dbt / plain:.2f}x, load average {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    loads.append(os.getloadavg())

    print(f"\nmedians over {args.runs} runs, scale {args.scale}, {os.cpu_count()} cores (seconds)")
    print("load average (1, 5, 15 min): " + " -> ".join(_loads(x) for x in loads))
    for which, runs in results.items():
        print(f"\n{which} demo")
        stages = list(dict.fromkeys(s for r in runs for s in r["stages"]))
        for stage in stages:
            values = [r["stages"][stage] for r in runs if stage in r["stages"]]
            print(f"  {stage:<45} {_median(values)}")
        print(
            f"  {'whole process (as `lakehouse demo`)':<45} {_median([r['wall_s'] for r in runs])}"
        )
        print(
            f"  {'plain dbt build, same selection and state':<45} "
            f"{_median([r['baseline_s'] for r in runs])}"
        )
        # CPU seconds too: on a shared machine wall time also measures the neighbours; and
        # dbt's own time, to tell a slower dbt from time spent around it
        for what, key in (("elapsed", ""), ("CPU", "_cpu"), ("dbt's own elapsed", "_own")):
            pairs = [(r[f"dagster_dbt{key}_s"], r[f"baseline{key}_s"]) for r in runs]
            ratios = [ours / plain for ours, plain in pairs if plain] or [0.0]
            print(
                f"  {'dbt stage / plain dbt build, ' + what:<45} {statistics.median(ratios):6.2f}x"
            )


if __name__ == "__main__":
    main()
