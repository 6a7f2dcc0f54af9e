"""End to end in a real headless Chromium: rate three items with the keyboard, reload, see progress kept, results.

Chromium and its driver come from Debian (`.ci/run` installs them when missing); the test skips without them.
Set HONED_SCREENSHOTS=DIR to save the review and results pages as PNGs (how docs/review*.png were made).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest


ITEMS = [
    (f"Customer question {i}: my router light is {colour}. What now?", "Restart it.",
     f"Hi there, thanks for contacting Brightwave Support.\n1. Unplug the router for 30 seconds.\n2. Check the "
     f"{colour} light again.\n3. Reply here if it stays {colour}.\nReply here if you need anything else.",
     f"Routers sometimes show a {colour} light. You could try restarting it or contact your provider.")
    for i, colour in enumerate(["red", "amber", "blue", "white", "green"], start=1)
]


def _inside_the_studio(tmp_path, store_items):
    """The same review mounted in a studio (as the studio's review page starts one): its own link, its own token."""
    import json
    import socket

    import uvicorn

    from honed.review import Store
    from honed.studio import create_app

    reviews = tmp_path / "workspace" / ".honed-studio" / "reviews"
    reviews.mkdir(parents=True)
    store = Store(reviews / "r1.sqlite")
    store.setup(*store_items)
    (reviews / "r1.json").write_text(json.dumps({"id": "r1", "token": "reviewer-secret", "labels": ["a", "b"],
                                                 "items": len(store_items[2]), "a": "a", "b": "b"}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "workspace", token="team-secret", start_queue=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return store, server, f"http://127.0.0.1:{port}/reviews/r1/?token=reviewer-secret"


@pytest.mark.parametrize("where", ["alone", "studio"])
def test_keyboard_review_survives_a_reload(tmp_path, browser, where):

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from honed.review import Store, make_review_server

    if where == "alone":
        store = Store(tmp_path / "review.sqlite")
        store.setup("support-lora", "base (smollm2-135m)", ITEMS)
        server = make_review_server(store, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        start = f"http://127.0.0.1:{server.server_address[1]}/"
    else:
        store, server, start = _inside_the_studio(tmp_path, ("support-lora", "base (smollm2-135m)", ITEMS))
    wait = WebDriverWait(browser, 20)
    shots = os.environ.get("HONED_SCREENSHOTS")
    try:
        browser.get(start)
        name = browser.find_element(By.ID, "reviewer")
        name.send_keys("ann", Keys.ENTER)
        for done, key in enumerate(["1", "2", "3"]):
            wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "count"), f"{done} of 5 rated"))
            if shots and done == 1:
                browser.save_screenshot(str(Path(shots) / "review.png"))
            browser.find_element(By.TAG_NAME, "body").send_keys(key)
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "count"), "3 of 5 rated"))
        browser.refresh()
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "count"), "3 of 5 rated"))
        assert browser.find_element(By.ID, "progress").get_attribute("value") == "3"
        assert "question 4" in browser.find_element(By.ID, "prompt").text
        browser.find_element(By.LINK_TEXT, "Results").click()
        wait.until(expected_conditions.presence_of_element_located((By.ID, "wins")))
        assert "3 ratings of 3 of 5 items by ann" in browser.find_element(By.TAG_NAME, "body").text
        if shots:
            browser.save_screenshot(str(Path(shots) / "review-results.png"))
    finally:
        if where == "alone":
            server.shutdown()
            server.server_close()
        else:
            server.should_exit = True
    ratings = store.ratings()
    assert [r["item_id"] for r in ratings] == [1, 2, 3]
    expected = [("a" if r["a_left"] else "b") if key == "1" else ("b" if r["a_left"] else "a") if key == "2" else "tie"
                for r, key in zip(ratings, "123")]
    assert [r["choice"] for r in ratings] == expected
