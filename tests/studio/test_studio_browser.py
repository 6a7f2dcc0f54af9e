"""The studio end to end in a real headless Chromium, on a tiny model: upload data and see what honed makes of it,
launch a LoRA run from the form, watch its loss chart grow, stop it, resume it, and find the same weights as a run
that was never stopped; then overlay two runs.

Chromium and its driver come from Debian (`.ci/run` installs them when missing); the test skips without them.
Set HONED_SCREENSHOTS=DIR to save each page as a PNG at 1280x800 (how docs/studio-*.png were made).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workspaces import ROWS
from tiny import write_jsonl


@pytest.fixture
def served(workspace):
    import uvicorn

    from honed.studio import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(workspace, poll_s=0.25), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_upload_launch_watch_stop_resume_and_overlay(workspace, served, browser, tiny_model, tmp_path):
    from safetensors.torch import load_file
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    shots = os.environ.get("HONED_SCREENSHOTS")

    def shot(name: str) -> None:
        if shots:
            browser.save_screenshot(str(Path(shots) / f"studio-{name}.png"))

    def typed(element_id: str, value: str) -> None:
        element = browser.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(value)

    # Data: upload a file and see its shape, lengths and rows as the model sees them
    mine = write_jsonl(tmp_path / "parcels.jsonl", [{"prompt": "<script>alert(1)</script>", "completion": "ok"}] + ROWS)
    browser.get(served + "/data")
    typed("model", str(tiny_model))
    browser.find_element(By.ID, "upload").send_keys(str(mine))
    wait.until(seen.text_to_be_present_in_element((By.ID, "facts"), "prompt_completion"))
    assert "uploads/parcels.jsonl" in browser.find_element(By.ID, "facts").text
    wait.until(lambda b: b.execute_script("const i = document.getElementById('histogram');"
                                          "return i.complete && i.naturalWidth > 0"))
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "preview").text  # shown as text
    shot("data")

    # New run from the form
    browser.get(served + "/new")
    typed("name", "parcels-lora")
    typed("model", str(tiny_model))
    typed("data.train", "uploads/parcels.jsonl")
    typed("training.max_steps", "200")
    for summary in browser.find_elements(By.TAG_NAME, "summary"):
        summary.click()
    typed("training.logging_steps", "5")
    typed("training.warmup", "0")
    browser.find_element(By.ID, "check").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "command"), "honed train runs/parcels-lora.yaml"))
    browser.execute_script("document.getElementById('result').scrollIntoView()")
    shot("new")
    browser.find_element(By.ID, "launch").click()
    wait.until(seen.url_contains("/run/runs/parcels-lora"))

    # Live: the loss chart gains points while it trains; then stop it
    counts = set()
    deadline = time.monotonic() + 120
    while len(counts) < 3 and time.monotonic() < deadline:
        state = browser.find_element(By.ID, "state").text
        points = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-points") or -1)
        assert state in ("queued", "starting", "running"), state
        if state == "running" and points > 0:
            counts.add(points)
        time.sleep(0.1)
    assert len(counts) >= 3, counts
    shot("run")
    browser.find_element(By.ID, "stop").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "state"), "stopped"))
    run = workspace / "runs" / "parcels-lora"
    assert list((run / "checkpoints").glob("step-*")) and not (run / "adapter").exists()

    # Resume: it finishes with the weights of a run that never stopped
    browser.find_element(By.ID, "resume").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "state"), "finished"))
    reference = workspace / "runs" / "reference"  # the same config, never stopped (after: two trainings at once crawl)
    subprocess.run([sys.executable, "-m", "honed", "train", str(workspace / ".honed-studio/configs/parcels-lora.yaml"),
                    "--output", str(reference)], check=True, capture_output=True, timeout=300)
    resumed, whole = (load_file(str(path / "adapter/adapter_model.safetensors")) for path in (run, reference))
    assert resumed.keys() == whole.keys() and all((resumed[k] - whole[k]).abs().max() <= 1e-6 for k in whole)

    # Runs: both in the table; select them and see the curves overlaid
    browser.get(served + "/")
    wait.until(seen.text_to_be_present_in_element((By.ID, "runs"), "runs/reference"))
    for row in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr"):
        row.find_element(By.TAG_NAME, "input").click()
    shot("runs")
    browser.find_element(By.ID, "compare").click()
    wait.until(seen.url_contains("/compare?"))
    assert "2 runs side by side" in browser.find_element(By.TAG_NAME, "h1").text
    wait.until(lambda b: all(b.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
                             for img in b.find_elements(By.TAG_NAME, "img")))
    shot("compare")


def test_chat_side_by_side_then_evaluate_and_sort_by_difference(workspace, served, browser, tiny_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from honed.training import fit
    from tiny import MEMORISE

    data = write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE)
    fit({"model": str(tiny_model), "data": {"train": str(data)},
         "training": {"max_steps": 10, "learning_rate": 0.01, "warmup": 0}, "output": str(workspace / "runs" / "taught")})
    browser.get(served + "/chat?left=runs/taught&right=runs/taught%23base")
    box = browser.find_element(By.ID, "message")
    box.send_keys(MEMORISE[0]["prompt"], Keys.ENTER)
    WebDriverWait(browser, 120).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-answered"))
    answers = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".answer")]
    assert len(answers) == 2 and all(answers) and answers[0] != answers[1]
    shots = os.environ.get("HONED_SCREENSHOTS")
    if shots:
        browser.save_screenshot(str(Path(shots) / "studio-chat.png"))

    browser.get(served + "/eval/runs/taught")
    Select(browser.find_element(By.ID, "data")).select_by_visible_text("data/train.jsonl")  # 24 parcel questions
    browser.find_element(By.ID, "limit").send_keys("6")
    browser.find_element(By.ID, "max_new_tokens").send_keys("8")
    browser.find_element(By.ID, "start").click()
    WebDriverWait(browser, 180).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-job") == "ended"
                                      and b.find_elements(By.CSS_SELECTOR, "#examples tbody tr"))
    browser.find_element(By.CSS_SELECTOR, "#examples th[data-key=difference]").click()  # ascending (it was descending)
    browser.find_element(By.CSS_SELECTOR, "#examples th[data-key=difference]").click()  # descending again
    cells = [row.find_elements(By.TAG_NAME, "td")[-1].text for row in
             browser.find_elements(By.CSS_SELECTOR, "#examples tbody tr")]
    differences = [float(cell) for cell in cells if cell]
    assert len(cells) == 6 and differences == sorted(differences, reverse=True)
    assert "rougeL" in browser.find_element(By.ID, "metrics").text
    assert browser.find_element(By.ID, "drift").text.startswith("Outside the domain: general answers: log-likelihood")
    # a tiny model's ROUGE-L differences are mostly ties: the sorting itself shows on another column
    browser.find_element(By.CSS_SELECTOR, "#examples th[data-key=index]").click()  # a new column sorts descending
    order = [row.get_attribute("data-index") for row in browser.find_elements(By.CSS_SELECTOR, "#examples tbody tr")]
    assert order == ["5", "4", "3", "2", "1", "0"]
    if shots:
        browser.save_screenshot(str(Path(shots) / "studio-eval.png"))


def test_chat_and_evaluate_say_the_cpu_is_shared_with_a_training(workspace, served, browser):
    """A training runs (started anywhere: here a run directory whose status names this live process)."""
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from workspaces import fake_run

    run = fake_run(workspace / "runs" / "busy", state="running", pid=os.getpid())
    with (run / "metrics.jsonl").open("a") as out:
        out.write(json.dumps({"step": 7, "loss": 0.4, "tokens_per_s": 40.0}) + "\n")  # its usual: the median, 103
    for page in ("/chat", "/eval/runs/busy"):
        browser.get(served + page)
        WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "shared").is_displayed())
        banner = browser.find_element(By.ID, "shared").text
        assert "runs/busy is training at 40 tokens/s (usually 103)" in banner and "share" in banner


def test_compare_review_and_export_from_the_pages(workspace, served, browser, tiny_model, tmp_path):
    import urllib.request

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from honed.training import fit
    from tiny import MEMORISE

    wait = WebDriverWait(browser, 300, ignored_exceptions=(StaleElementReferenceException,))  # pages reload here
    shots = os.environ.get("HONED_SCREENSHOTS")
    data = write_jsonl(workspace / "data" / "memorise.jsonl", MEMORISE * 4)
    fit({"model": str(tiny_model), "data": {"train": str(data), "test": str(data)},
         "training": {"max_steps": 10, "learning_rate": 0.01, "warmup": 0}, "output": str(workspace / "runs" / "taught")})

    # A two-technique quick comparison: its table fills, then its plots appear
    browser.get(served + "/comparisons")
    browser.find_element(By.ID, "model").send_keys(str(tiny_model))
    Select(browser.find_element(By.ID, "train")).select_by_visible_text("data/memorise.jsonl")
    Select(browser.find_element(By.ID, "test")).select_by_visible_text("data/memorise.jsonl")
    browser.find_element(By.ID, "start").click()
    wait.until(lambda b: "/comparison/comparisons/techniques" in b.current_url)
    rows_seen = set()

    def ended(b) -> bool:
        rows_seen.add(b.find_element(By.TAG_NAME, "body").get_attribute("data-rows"))
        return b.find_element(By.TAG_NAME, "body").get_attribute("data-job") == "ended"

    wait.until(ended)
    assert len(rows_seen - {None, "0"}) >= 2, rows_seen  # rows appeared one technique at a time
    wait.until(lambda b: b.execute_script(
        "return [...document.querySelectorAll('#plots img')].filter(i => i.complete && i.naturalWidth > 0).length") >= 2)
    techniques = [row.find_element(By.TAG_NAME, "td").text for row in
                  browser.find_elements(By.CSS_SELECTOR, "#table tbody tr")]
    assert len(techniques) == 3 and {"lora", "ia3"} <= {t.split()[0] for t in techniques}, techniques
    if shots:
        browser.save_screenshot(str(Path(shots) / "studio-comparison.png"))

    # A review of the run against its base, started from the page, rated with the keyboard
    browser.get(served + "/reviews")
    Select(browser.find_element(By.ID, "a")).select_by_visible_text("runs/taught")
    Select(browser.find_element(By.ID, "data")).select_by_visible_text("data/memorise.jsonl")
    browser.find_element(By.ID, "start").click()
    wait.until(lambda b: "/reviews/" in b.current_url and "token=" in b.current_url)
    browser.find_element(By.ID, "reviewer").send_keys("ann\n")
    for done, key in enumerate("123"):
        wait.until(lambda b, done=done: f"{done} of 8 rated" in b.find_element(By.ID, "count").text)
        browser.find_element(By.TAG_NAME, "body").send_keys(key)
    wait.until(lambda b: "3 of 8 rated" in b.find_element(By.ID, "count").text)
    browser.find_element(By.LINK_TEXT, "Results").click()
    wait.until(lambda b: "3 ratings of 3 of 8 items by ann" in b.find_element(By.TAG_NAME, "body").text)
    if shots:
        browser.save_screenshot(str(Path(shots) / "studio-review.png"))

    # Export a GGUF, download it, and run it in llama.cpp
    browser.get(served + "/export/runs/taught")
    Select(browser.find_element(By.ID, "quant")).select_by_visible_text("f16")
    browser.find_element(By.CSS_SELECTOR, "button[data-kind=gguf]").click()
    wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-job") == "ended"
               and b.find_elements(By.CSS_SELECTOR, "#files a"))
    assert "llama-cli -m" in browser.find_element(By.ID, "note").text
    link = next(a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#files a")
                if a.text.endswith(".gguf"))
    if shots:
        browser.save_screenshot(str(Path(shots) / "studio-export.png"))
    with urllib.request.urlopen(link, timeout=60) as response:
        (tmp_path / "taught.gguf").write_bytes(response.read())
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(model_path=str(tmp_path / "taught.gguf"), n_ctx=64, verbose=False)
    assert llm.n_vocab() > 0


def test_no_page_has_a_script_error(workspace, served, browser):
    """Every page's script runs to its end in Chromium (an error part-way leaves a page that never refreshes)."""
    from workspaces import fake_run

    fake_run(workspace / "runs" / "a")
    fake_run(workspace / "runs" / "b", state="stopped", error="stopped at step 6")
    pages = ["/", "/run/runs/a", "/run/runs/b", "/compare?run=runs/a&run=runs/b", "/new", "/data", "/chat",
             "/reviews", "/comparisons", "/serve", "/eval/runs/a", "/export/runs/a"]
    for page in pages:
        browser.get(served + page)
        time.sleep(0.3)  # a script that fails as the page loads has failed by now
        errors = [entry["message"] for entry in browser.get_log("browser") if entry["source"] == "javascript"]
        assert errors == [], (page, errors)
