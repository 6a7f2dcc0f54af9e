"""The studio's targets: the runs page over 200 run directories, how soon a new metrics line reaches an open run page,
and training launched from the studio against the same training from the CLI (side by side, one after the other).

    python benchmarks/studio.py [--runs 200] [--steps 8] [--no-training]

The 200 run directories are copies of runs/support-lora's config, summary and metrics (no weights), or of a
synthetic run when that is absent. Latency is measured over the event stream a run page opens (`/events/...`),
from appending a line to metrics.jsonl until the event arrives. Training: examples/support.yaml at --steps steps,
CLI first, then the studio's queue; tokens/s as each summary reports it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT  # noqa: E402

from honed.hardware import cpu_name  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--no-training", action="store_true")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}")
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        page_ms = runs_page(workspace, args.runs)
        print(f"runs page over {args.runs} run directories: GET / {page_ms['/']:.0f} ms, GET /api/runs "
              f"{page_ms['/api/runs']:.0f} ms (median of 5; target under 300 ms)")
        delays = metrics_latency(workspace)
        print(f"a metrics line reaches an open run page in {statistics.median(delays):.2f} s median, "
              f"{max(delays):.2f} s at most over {len(delays)} lines (target within 2 s)")
    if not args.no_training:
        cli, studio = training_speed(args.steps)
        print(f"training examples/support.yaml, {args.steps} steps: CLI {cli:.1f} tokens/s, studio {studio:.1f} "
              f"tokens/s: studio/CLI {studio / cli:.2f}")


def runs_page(workspace: Path, count: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    source = ROOT / "runs" / "support-lora"
    for index in range(count):
        run = workspace / "runs" / f"run-{index:03d}"
        run.mkdir(parents=True)
        for name in ("config.yaml", "summary.json", "metrics.jsonl"):
            if (source / name).is_file():
                shutil.copy(source / name, run / name)
            else:
                _synthetic(run, name)
    client = TestClient(create_app(workspace, start_queue=False))
    timings = {}
    for url in ("/", "/api/runs"):
        assert client.get(url).status_code == 200
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            samples.append((time.perf_counter() - started) * 1000)
        timings[url] = statistics.median(samples)
    return timings


def _synthetic(run: Path, name: str) -> None:
    content = {"config.yaml": "model: smollm2-135m\nmethod:\n  name: lora\n",
               "summary.json": json.dumps({"final_train_loss": 1.0, "tokens_per_s": 100.0, "wall_time_s": 60}),
               "metrics.jsonl": "".join(json.dumps({"step": s, "loss": 2.0 / s}) + "\n" for s in range(1, 25))}
    (run / name).write_text(content[name])


def metrics_latency(workspace: Path, lines: int = 8) -> list[float]:
    import urllib.request

    import uvicorn

    from honed.studio import create_app

    run = workspace / "runs" / "run-000"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(workspace, start_queue=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    arrivals: list[tuple[int, float]] = []

    def listen():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/events/runs/run-000", timeout=60) as stream:
            for raw in stream:
                line = raw.decode()
                if line.startswith("data: "):
                    arrivals.append((json.loads(line[6:])["points"], time.perf_counter()))
                    if len(arrivals) > lines:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    while not arrivals:
        time.sleep(0.05)
    delays = []
    for _ in range(lines):
        points = sum(1 for _ in (run / "metrics.jsonl").open())
        written = time.perf_counter()
        with (run / "metrics.jsonl").open("a") as out:
            out.write(json.dumps({"step": 1000 + points, "loss": 0.5}) + "\n")
        while not any(count == points + 1 for count, _ in arrivals):
            time.sleep(0.01)
        delays.append(next(at for count, at in arrivals if count == points + 1) - written)
        time.sleep(0.3)
    server.should_exit = True
    return delays


def training_speed(steps: int) -> tuple[float, float]:
    from fastapi.testclient import TestClient

    from honed import rundir
    from honed.studio import create_app

    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        shutil.copytree(ROOT / "examples" / "data" / "support", workspace / "examples" / "data" / "support")
        shutil.copy(ROOT / "examples" / "support.yaml", workspace / "examples" / "support.yaml")
        subprocess.run([sys.executable, "-m", "honed", "train", str(workspace / "examples" / "support.yaml"),
                        "--max-steps", str(steps), "--output", str(workspace / "cli")], check=True,
                       capture_output=True)
        app = create_app(workspace, poll_s=0.5)
        with TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf}) as studio:
            text = (workspace / "examples" / "support.yaml").read_text().replace("max_steps: 24",
                                                                               f"max_steps: {steps}")
            launched = studio.post("/api/launch", json={"name": "studio", "yaml": text,
                                                        "source": "examples/support.yaml"})
            assert launched.status_code == 200, launched.text
            run = workspace / "runs" / "studio"
            while rundir.read_status(run).get("state") not in ("finished", "failed", "stopped"):
                time.sleep(0.5)
        speeds = [json.loads((path / "summary.json").read_text())["tokens_per_s"]
                  for path in (workspace / "cli", run)]
    return speeds[0], speeds[1]


if __name__ == "__main__":
    main()
