"""The README's first command, timed: ``python benchmarks/demo.py [-- extra train options]``.

Runs ``python -m keras_hsmix.cli train --out <temporary folder>`` (the demo at its
defaults, on the built-in synthetic data) in a subprocess, as a new user would, and
prints its validation DSC, its wall time, the CPU seconds it used (user + system, so
a machine shared with other jobs can be compared with an idle one: on ``n`` idle
cores the wall time is at least CPU seconds / ``n``), the load average before and
after, and the number of cores. Options after ``--`` are passed to ``train``
(``python benchmarks/demo.py -- --epochs 5`` times another setting).

The goal (issue 25): validation DSC >= 0.85 in about 90 s or less on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from keras_hsmix.cli.common import is_tensorflow_log_line  # (no TensorFlow import)


def run_demo(extra: list[str]) -> dict:
    """Runs the demo once in a subprocess; returns its results with ``wall_s``, ``cpu_s`` and the load average."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        load_before = os.getloadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "keras_hsmix.cli", "train", "--out", str(out), *extra],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"the demo failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
        results = json.loads((out / "results.json").read_text())
        config = json.loads((out / "config.json").read_text())
    return {
        "val_dice": results["validation"]["dice"],
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "stderr_lines": done.stderr.count("\n"),  # SLIC's progress bar redraws with "\r": one line
        "tensorflow_lines": sum(is_tensorflow_log_line(line) for line in done.stderr.splitlines()),
        "summary": done.stdout[done.stdout.rfind("done in "):].strip(),
        "config": {k: config[k] for k in ("size", "num_images", "epochs", "batch_size", "learning_rate",
                                          "base_filters", "depth", "n_segments")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="run the demo this many times")
    parser.add_argument("--show", action="store_true", help="print the demo's own summary (its last lines)")
    parser.add_argument("extra", nargs="*", help="options passed to keras-hsmix train (after --)")
    args = parser.parse_args(argv)
    print(f"cores: {os.cpu_count()} (affinity: {len(os.sched_getaffinity(0))})")
    for i in range(args.repeat):
        r = run_demo(args.extra)
        print(f"run {i + 1}: validation DSC {r['val_dice']:.4f}, wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s "
              f"(user + system), load average {r['load_before'][0]:.2f} before, {r['load_after'][0]:.2f} after, "
              f"{r['stderr_lines']} stderr line(s), {r['tensorflow_lines']} of TensorFlow's; settings {r['config']}", flush=True)
        if args.show:
            print(r["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
