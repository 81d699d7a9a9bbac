#!/usr/bin/env python3
"""Checks the web console in headless Chromium while a ledger run writes the store it serves.

Usage: console-browser-test.py SAMPLE_EXECUTABLE SCREENSHOT_DIRECTORY

Everything listens on 127.0.0.1 with a port the system picks; every wait has a deadline. Checks:
- /metrics parses as Prometheus text (prometheus_client's parser) and the head position moves between two scrapes;
- /health/ready turns unready when a projection's checkpoint stands still while the log grows;
- the overview shows a rising head position, and its live throughput figure changes without a reload;
- a stream page lists an account's events in version order;
- an event whose payload holds <script>alert(1)</script> shows as text and no dialog opens;
- a page past the end gives the 404 page;
and saves screenshots of the overview and a stream page.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By

SAMPLE, SCREENSHOTS = sys.argv[1], sys.argv[2]
DEADLINE = 120  # seconds for any one wait


def wait_for(description, condition, timeout=DEADLINE, interval=0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"console browser test: timed out waiting for {description}")


def start_serve(database, *arguments):
    process = subprocess.Popen(
        [SAMPLE, "serve", "--database", database, "--port", "0", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"serve exited: {process.wait()}")
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        if match:
            return process, match.group(1)
    raise SystemExit("serve did not say where it listens")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def head_from_metrics(base):
    status, text = get(base + "metrics")
    assert status == 200, status
    samples = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
    return samples["whizbang_store_head_position"], samples


def main():
    # Ended by `timeout` (SIGTERM), the `finally` below still stops the processes and removes the scratch directory.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(SCREENSHOTS, exist_ok=True)
    work = tempfile.mkdtemp(prefix="whizbang-console-")
    processes = []
    try:
        # A store with an event whose payload is a script, built by export, edit and import.
        small = os.path.join(work, "small.sqlite")
        subprocess.run([SAMPLE, "run", "--database", small, "--accounts", "3", "--commands", "3"],
                       check=True, timeout=DEADLINE, stdout=subprocess.DEVNULL)
        exported = os.path.join(work, "small.jsonl")
        subprocess.run([SAMPLE, "export", "--database", small, "--output", exported], check=True, timeout=DEADLINE)
        lines = open(exported).read().splitlines()
        for index, line in enumerate(lines):
            event = json.loads(line)
            if isinstance(event, dict) and "data" in event and "position" in event:
                event["data"] = json.dumps({"note": "<script>alert(1)</script>"})
                lines[index] = json.dumps(event)
                script_position = event["position"]
                break
        open(exported, "w").write("\n".join(lines) + "\n")
        hostile = os.path.join(work, "hostile.sqlite")
        subprocess.run([SAMPLE, "import", "--database", hostile, "--input", exported], check=True, timeout=DEADLINE)

        # A ledger run writing while the console serves it.
        ledger = os.path.join(work, "ledger.sqlite")
        subprocess.run([SAMPLE, "run", "--database", ledger, "--accounts", "50", "--commands", "50"],
                       check=True, timeout=DEADLINE, stdout=subprocess.DEVNULL)
        writer = subprocess.Popen(
            [SAMPLE, "run", "--keep", "--database", ledger, "--accounts", "50", "--commands", "2000000",
             "--concurrency", "16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(writer)
        serve, base = start_serve(ledger, "--projection", "whizbang-sample.ledger", "--maximum-lag", "500")
        processes.append(serve)
        hostile_serve, hostile_base = start_serve(hostile)
        processes.append(hostile_serve)

        first, _ = head_from_metrics(base)
        wait_for("the head position to move on /metrics", lambda: head_from_metrics(base)[0] > first)
        _, samples = head_from_metrics(base)
        assert any(name == "whizbang_projection_lag_events" for name in samples), samples.keys()
        wait_for("/health/ready to report unready", lambda: get(base + "health/ready")[0] == 503)
        print("console browser test: /metrics parses and moves; /health/ready turns unready")

        options = webdriver.ChromeOptions()
        for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900"]:
            options.add_argument(argument)
        # Debian's Chromium and driver, named outright so that Selenium fetches nothing.
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        service = ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.set_page_load_timeout(30)
            driver.get(base)
            text = lambda element_id: driver.find_element(By.ID, element_id).text
            start_head = int(text("head-position"))
            wait_for("the overview's head position to rise without a reload",
                     lambda: int(text("head-position")) > start_head)
            start_rate = text("events-per-second")
            wait_for("the live throughput figure to change", lambda: text("events-per-second") != start_rate)
            driver.save_screenshot(os.path.join(SCREENSHOTS, "overview.png"))
            print("console browser test: the overview's head and throughput change live")

            driver.get(base + "streams?prefix=account-")
            link = driver.find_element(By.CSS_SELECTOR, "#streams a")
            link.click()
            wait_for("the stream page", lambda: "Stream account-" in driver.title)
            rows = driver.find_elements(By.CSS_SELECTOR, "table.events tbody tr")
            versions = [int(row.find_elements(By.TAG_NAME, "td")[1].text) for row in rows]
            assert versions and versions == sorted(versions) and versions[0] == 1, versions
            driver.save_screenshot(os.path.join(SCREENSHOTS, "stream.png"))
            print(f"console browser test: a stream page lists versions {versions[0]}..{versions[-1]} in order")

            driver.get(f"{hostile_base}events/{script_position}")
            payload = driver.find_element(By.ID, "payload").text
            assert "<script>alert(1)</script>" in payload, payload
            try:
                driver.switch_to.alert
                raise SystemExit("console browser test: a dialog opened")
            except NoAlertPresentException:
                pass
            print("console browser test: a <script> payload shows as text, no dialog")

            driver.get(base + "log?after=999999999999")
            assert driver.find_element(By.TAG_NAME, "h1").text == "404 Not Found", driver.page_source[:200]
            print("console browser test: a page past the end gives the 404 page")
        finally:
            driver.quit()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
