"""The studio's pages and API in-process: runs as training leaves them, data checked as the CLI checks it,
uploads that write nothing when refused, the form's inline errors, and its guards (paths, CSRF, token)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import honed
from workspaces import fake_run
from honed.errors import UserError


def test_the_runs_table_shows_each_run_with_its_state(workspace, studio):
    fake_run(workspace / "runs" / "done")
    fake_run(workspace / "runs" / "halted", state="stopped", error="stopped at step 6 by a signal")
    fake_run(workspace / "old" / "crashed", state="running", pid=2**22 + 12345)  # no such process
    fake_run(workspace / "runs" / "done" / "checkpoints" / "inner")  # inside a run: not a run of its own
    runs = {row["name"]: row for row in studio.get("/api/runs").json()["runs"]}
    assert set(runs) == {"runs/done", "runs/halted", "old/crashed"}
    assert (runs["runs/done"]["state"], runs["runs/done"]["final_loss"], runs["runs/done"]["tokens_per_s"]) == \
        ("finished", 0.5, 123.0)
    assert runs["runs/halted"]["state"] == "stopped" and "signal" in runs["runs/halted"]["error"]
    assert runs["old/crashed"]["state"] == "interrupted"
    assert runs["runs/halted"]["final_loss"] == pytest.approx(0.5)  # the last logged loss while no summary exists
    page = studio.get("/")
    assert page.status_code == 200 and "runs/halted" in page.text


def test_a_run_page_escapes_what_it_shows(workspace, studio):
    fake_run(workspace / "runs" / "bad", state="failed", error="<script>alert(1)</script>")
    page = studio.get("/run/runs/bad").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    chart = studio.get("/chart/loss.svg", params={"run": "runs/bad"})
    assert chart.headers["content-type"].startswith("image/svg+xml") and "<svg" in chart.text


def test_two_runs_overlay_in_one_chart_each_in_its_own_colour_everywhere(workspace, studio):
    from honed.studio.charts import PALETTE

    fake_run(workspace / "a", started=1000.0)
    fake_run(workspace / "b", steps=3, started=2000.0)  # runs take the palette's colours in the order they started
    page = studio.get("/compare", params={"run": ["a", "b"]})
    assert page.status_code == 200 and PALETTE[0] in page.text and PALETTE[1] in page.text
    chart = studio.get("/chart/loss.svg", params={"run": ["a", "b"]}).text
    assert PALETTE[0] in chart and PALETTE[1] in chart
    table = {row["name"]: row["colour"] for row in studio.get("/api/runs").json()["runs"]}
    assert table == {"a": PALETTE[0], "b": PALETTE[1]}


@pytest.mark.parametrize("path", ["../outside", "/etc/passwd", "data/../../outside", "link/secret.jsonl"])
def test_paths_outside_the_workspace_are_refused(workspace, studio, tmp_path, path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"text": "hidden-content"}\n')
    os.symlink(outside, workspace / "link")
    for url, params in [("/api/data", {"file": path}), ("/chart/loss.svg", {"run": path})]:
        response = studio.get(url, params=params)
        assert response.status_code == 400 and "workspace" in response.json()["error"], (url, response.text)
    assert studio.get("/run/" + path).status_code in (400, 404)
    assert "hidden-content" not in studio.get("/api/data", params={"file": path}).text


def test_posts_without_the_csrf_token_are_refused(workspace, studio):
    fake_run(workspace / "runs" / "halted", state="stopped")
    response = studio.post("/api/resume/runs/halted", headers={"X-CSRF-Token": "wrong"})
    assert response.status_code == 403
    assert not (workspace / ".honed-studio" / "queue.json").exists()


def test_a_token_is_needed_on_every_request_and_kept_in_a_cookie(workspace):
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    client = TestClient(create_app(workspace, token="s3cret", start_queue=False))
    assert client.get("/").status_code == 401
    assert client.get("/api/runs").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    assert client.get("/?token=s3cret").status_code == 200
    assert client.get("/api/runs").status_code == 200  # the cookie from the first visit
    assert TestClient(client.app).get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_binding_beyond_this_machine_needs_a_token(workspace):
    from honed.studio.guard import check_bind

    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "t")
    with pytest.raises(UserError, match="--token"):
        check_bind("0.0.0.0", None)
    result = subprocess.run([sys.executable, "-m", "honed", "studio", "--workspace", str(workspace), "--host",
                             "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --host 0.0.0.0 makes the studio reachable from other machines: give --token as well"]


def test_the_data_page_reports_shape_lengths_duplicates_and_leaks(workspace, studio, tiny_model):
    rows = [json.loads(line) for line in (workspace / "data" / "train.jsonl").read_text().splitlines()]
    rows += [rows[0], {"prompt": "<script>alert(1)</script>", "completion": "x " * 300}]
    (workspace / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = studio.get("/api/data", params={"file": "data/train.jsonl", "test": "data/test.jsonl",
                                              "model": str(tiny_model), "max_length": 64}).json()
    assert (report["shape"], report["rows"], report["fields"]) == ("prompt_completion", 26, ["completion", "prompt"])
    assert report["duplicates"] == [["data/train.jsonl:1", "data/train.jsonl:25"]]
    assert [leak["test"] for leak in report["leaks"]] == ["data/test.jsonl:1", "data/test.jsonl:2", "data/test.jsonl:3"]
    assert [row["where"] for row in report["truncated"]] == ["data/train.jsonl:26"]
    assert len(report["lengths"]) == 26 and max(report["lengths"]) > 64
    first = report["preview"][0]["segments"]
    assert any(trained and "Parcel 0 arrives" in text for text, trained in first)
    assert any(not trained and "Question 0" in text for text, trained in first)
    histogram = studio.get("/data/lengths.svg", params={"file": "data/train.jsonl", "model": str(tiny_model)})
    assert "<svg" in histogram.text


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.jsonl", b'{"text": "a"}\n{"text": "b"}\n{"text": oops}\n', "bad.jsonl:3"),
    ("table.csv", b"question,answer\nhi,there\n", "bad"),
    ("empty.jsonl", b"", "empty"),
    ("blob.jsonl", os.urandom(10 * 2**20), "blob.jsonl"),
])
def test_a_malformed_upload_gives_the_cli_line_and_writes_nothing(workspace, studio, tiny_model, name, content,
                                                                   message):
    from honed.config import DataConfig
    from honed.data.loading import load_rows

    response = studio.post("/api/upload", params={"name": name}, content=content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "\n" not in error and (message in error or message == "bad"), error
    if content:  # the CLI says the same of the file
        cli = workspace / name
        cli.write_bytes(content)
        with pytest.raises(UserError) as raised:
            load_rows(str(cli), DataConfig())
        assert str(raised.value).replace(str(cli), name) == error
        cli.unlink()
    assert not (workspace / "uploads").exists()


def test_uploads_never_replace_a_file_and_stay_within_the_limit(workspace):
    from fastapi.testclient import TestClient

    from honed.studio import create_app

    app = create_app(workspace, upload_limit_mb=0.01, start_queue=False)
    client = TestClient(app, headers={"X-CSRF-Token": app.state.studio.guard.csrf})
    good = b'{"text": "one"}\n{"text": "two"}\n'
    first = client.post("/api/upload", params={"name": "../notes.jsonl"}, content=good).json()
    second = client.post("/api/upload", params={"name": "notes.jsonl"}, content=good + good).json()
    assert (first["file"], second["file"]) == ("uploads/notes.jsonl", "uploads/notes-1.jsonl")
    assert (workspace / "uploads" / "notes.jsonl").read_bytes() == good
    too_big = client.post("/api/upload", params={"name": "big.jsonl"}, content=good * 1000)
    assert too_big.status_code == 400 and "upload-limit-mb" in too_big.json()["error"]
    assert sorted(p.name for p in (workspace / "uploads").iterdir()) == ["notes-1.jsonl", "notes.jsonl"]


def test_the_form_refuses_a_bad_field_inline_with_the_schemas_message(workspace, studio, tiny_model):
    values = {"model": str(tiny_model), "data.train": "data/train.jsonl", "training.epochs": "-1"}
    response = studio.post("/api/config", json={"name": "first", "values": values})
    assert response.status_code == 422
    assert response.json()["fields"] == {"training.epochs": "Input should be greater than 0 (got -1)"}
    outside = studio.post("/api/config", json={"name": "first", "values": {**values, "data.train": "../x.jsonl"}})
    assert outside.status_code == 422 and "outside the workspace" in outside.json()["error"]
    fake_run(workspace / "runs" / "taken")
    taken = studio.post("/api/config", json={"name": "taken", "values": {**values, "training.epochs": "1"}})
    assert "exists already" in taken.json()["fields"]["name"]


def test_the_form_and_pasted_yaml_make_one_config_with_its_command_and_cost(workspace, studio, tiny_model):
    from honed.config import load_config

    values = {"model": str(tiny_model), "data.train": "data/train.jsonl", "training.max_steps": "5",
              "method.name": "lora", "method.r": "4"}
    checked = studio.post("/api/config", json={"name": "first", "values": values}).json()
    assert checked["command"] == "honed train runs/first.yaml --output runs/first"
    estimate = checked["estimate"]
    assert (estimate["rows"], estimate["steps"], estimate["tokens_per_s"]) == (24, 5, None)  # nothing measured yet
    trained = honed.train(load_config(values={"model": str(tiny_model), "data.train": str(workspace / "data/train.jsonl"),
                                              "training.max_steps": 1, "method": "lora", "method.r": 4,
                                              "output": str(workspace / "runs/measured")}))
    summary = json.loads((trained / "summary.json").read_text())
    assert estimate["trainable"] == summary["parameters"]["trainable"]
    again = studio.post("/api/config", json={"name": "second", "values": values}).json()["estimate"]
    assert again["tokens_per_s"] == summary["tokens_per_s"] and again["measured_on"] == 1  # the run just recorded
    assert again["seconds"] == pytest.approx(again["tokens"] / summary["tokens_per_s"])
    pasted = studio.post("/api/config", json={"name": "first", "yaml": checked["yaml"]}).json()
    assert pasted["yaml"] == checked["yaml"]
    config = load_config(values={"model": str(tiny_model), "data.train": str(workspace / "data/train.jsonl"),
                                 "training.max_steps": 5, "method": "lora", "method.r": 4,
                                 "output": str(workspace / "runs/first")})
    from honed.config import to_yaml

    assert checked["yaml"] == to_yaml(config)
    broken = studio.post("/api/config", json={"name": "first", "yaml": "model: x\ntraining:\n  epochz: 1\n"})
    assert broken.status_code == 422 and broken.json()["error"].startswith("YAML:3: training.epochz: unknown key")


def test_every_page_works_offline_with_nothing_from_elsewhere(workspace, studio, tiny_model):
    """No asset from a CDN or any other host: every src, href and url() of every page stays in the studio."""
    import re

    fake_run(workspace / "a")
    fake_run(workspace / "b")
    pages = ["/", "/run/a", "/compare?run=a&run=b", "/new", "/data", "/chat", "/reviews", "/comparisons", "/serve",
             "/eval/a", "/export/a"]
    for url in pages:
        page = studio.get(url)
        assert page.status_code == 200, url
        links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)|url\(\s*["']?([^)"']+)""", page.text)
        outside = [link for pair in links for link in pair if link and re.match(r"^(?:[a-z]+:)?//", link)]
        assert outside == [], (url, outside)
        assert "fetch(\"http" not in page.text and "import " not in page.text.split("<script>")[-1][:0]


def test_model_pickers_offer_the_default_model_and_models_in_the_workspace(workspace, studio, tiny_model):
    import shutil

    shutil.copytree(tiny_model, workspace / "models" / "mine")
    (workspace / "models" / "small.gguf").write_bytes(b"GGUF")
    page = studio.get("/new").text
    for choice in ("smollm2-135m", "models/mine", "models/small.gguf"):
        assert f'<option value="{choice}">' in page
    values = {"model": "models/mine", "data.train": "data/train.jsonl", "training.max_steps": "2"}
    checked = studio.post("/api/config", json={"name": "mine", "values": values}).json()
    assert f"model: {workspace / 'models' / 'mine'}" in checked["yaml"]


def test_a_config_file_of_the_workspace_keeps_its_own_relative_paths(workspace, studio, tiny_model):
    (workspace / "configs").mkdir()
    (workspace / "configs" / "parcels.yaml").write_text(
        f"model: {tiny_model}\ndata:\n  train: ../data/train.jsonl\ntraining:\n  max_steps: 3\n")
    text = studio.get("/api/text", params={"file": "configs/parcels.yaml"}).json()["text"]
    checked = studio.post("/api/config", json={"name": "from-file", "yaml": text,
                                               "source": "configs/parcels.yaml"}).json()
    assert f"train: {workspace / 'data' / 'train.jsonl'}" in checked["yaml"]
    assert studio.get("/api/text", params={"file": "data/train.jsonl"}).status_code == 400


def test_a_model_outside_the_workspace_is_taken_by_its_absolute_path(workspace, studio, tiny_model):
    values = {"model": str(tiny_model), "data.train": "data/train.jsonl", "training.max_steps": "2"}
    checked = studio.post("/api/config", json={"name": "abs", "values": values})
    assert checked.status_code == 200 and f"model: {tiny_model}" in checked.json()["yaml"]


def test_a_failed_run_shows_its_error_and_log_and_archiving_moves_it_aside(workspace, studio):
    run = fake_run(workspace / "runs" / "broken", state="failed", error="step 5: gradient norm is not finite (nan)")
    (run / "train.log").write_text("".join(f"line {i}\n" for i in range(100)) + "failed: step 5: not finite\n")
    page = studio.get("/run/runs/broken").text
    assert "step 5: gradient norm is not finite (nan)" in page and "failed: step 5: not finite" in page
    assert "line 99" in page and "line 10\n" not in page  # the log's tail
    fake_run(workspace / "runs" / "busy", state="running")
    refused = studio.post("/api/archive/runs/busy")
    assert refused.status_code == 400 and "stop it" in refused.json()["error"]
    moved = studio.post("/api/archive/runs/broken").json()["moved_to"]
    assert moved.startswith(".honed-trash/runs__broken-") and (workspace / moved / "train.log").is_file()
    assert not run.exists() and [r["name"] for r in studio.get("/api/runs").json()["runs"]] == ["runs/busy"]


def test_honed_studio_serves_the_workspace(workspace):
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake_run(workspace / "runs" / "done")
    process = subprocess.Popen([sys.executable, "-m", "honed", "studio", "--workspace", str(workspace), "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f"open http://127.0.0.1:{port}/" in process.stdout.readline()
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=5) as response:
                    assert [run["name"] for run in json.load(response)["runs"]] == ["runs/done"]
                    break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)
