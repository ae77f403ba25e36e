#!/usr/bin/env python3
"""Screenshots of each console page, for docs/console/ and the README (scripts/console-screenshots).

    console_screenshots.py --herald BIN --out DIR

Starts `herald serve` on a new database in a temporary directory, with two sandbox providers
(the primary failing, so that emails fail over to the secondary and its breaker opens); sends
some emails, among them to the sandbox's simulator addresses, and schedules some; then signs in with headless Chromium and saves each page at desktop width (1280
px) and the busiest ones at phone width (390 px) as DIR/PAGE-desktop.png and -phone.png.
"""

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from selenium.webdriver.common.by import By

from console_browser import start_browser, wait_for

CONFIG = """
providers:
  - {name: primary, type: sandbox, failure_rate: 1, failure_class: transient, latency_ms: 40}
  - {name: secondary, type: sandbox, latency_ms: 25, events: {delay_ms: 200}}
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url, key, method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--herald", required=True)
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        database = os.path.join(directory, "herald.db")
        config = os.path.join(directory, "herald.yaml")
        with open(config, "w") as file:
            file.write(CONFIG)
        key = subprocess.run([options.herald, "keys", "create", "--scope", "operator", "--database", database],
                             check=True, capture_output=True, text=True).stdout.strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(os.path.join(directory, "herald.log"), "w")
        herald = subprocess.Popen([options.herald, "serve", "--port", str(port), "--database", database, "--config", config],
                                  stdout=log, stderr=log)
        try:
            if not wait_for(lambda: ready(url), seconds=30):
                raise SystemExit("herald did not start")
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
            recipients = ["delivered@example.com", "bounce@example.com", "complaint@example.com", "ana@example.com",
                          "li@example.com", "sam@example.com"]
            ids = []
            for index in range(18):
                body = {"from": "Herald Demo <demo@example.org>", "to": [recipients[index % len(recipients)]],
                        "subject": f"Your receipt #{1040 + index}", "text": "Thank you for your order.",
                        "html": "<h1>Thank you</h1><p>Your order is on its way.</p>", "tags": ["receipts"]}
                ids.append(call(url, key, "POST", "/v1/emails", body)["id"])
            for index in range(4):
                call(url, key, "POST", "/v1/emails", {"from": "demo@example.org", "to": [f"later{index}@example.com"],
                                                      "subject": "Scheduled newsletter", "text": "Soon.", "send_at": later,
                                                      "tags": ["newsletter"]})
            call(url, key, "POST", "/v1/suppressions", {"address": "unsubscribed@example.com", "reason": "asked to stop"})
            wait_for(lambda: all(call(url, key, "GET", f"/v1/emails/{id}")["status"] == "sent" for id in ids), seconds=60)
            time.sleep(1)  # the sandbox's events arrive 200 ms after each send
            shoot(url, key, ids[0], options.out)
        finally:
            herald.send_signal(signal.SIGTERM)
            herald.wait(timeout=30)


def ready(url):
    try:
        urllib.request.urlopen(url + "/readyz", timeout=1).read()
        return True
    except OSError:
        return False


def shoot(url, key, email, out):
    pages = [("overview", "/console"), ("emails", "/console/emails"), ("email", f"/console/emails/{email}"),
             ("providers", "/console/providers"), ("bulk", "/console/bulk?status=queued&tag=newsletter"),
             ("suppressions", "/console/suppressions"), ("webhooks", "/console/webhooks"), ("keys", "/console/keys")]
    phone = {"overview", "emails", "email"}
    for width, suffix in ((1280, "desktop"), (390, "phone")):
        driver = start_browser(width)
        # A phone's viewport, as Chromium's device emulation lays it out (a headless window
        # cannot be made that narrow).
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
        try:
            driver.get(url + "/console/sign-in")
            driver.find_element(By.ID, "key").send_keys(key)
            driver.find_element(By.CSS_SELECTOR, "form.sign-in button").click()
            wait_for(lambda: driver.current_url.endswith("/console"), seconds=10)
            for name, path in pages:
                if suffix == "phone" and name not in phone:
                    continue
                driver.get(url + path)
                # The whole page, not only the window (Chromium's DevTools protocol), at most 2,400 px tall.
                size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
                clip = {"x": 0, "y": 0, "width": width, "height": min(size["height"], 2400), "scale": 1}
                shot = driver.execute_cdp_cmd(
                    "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
                path = os.path.join(out, f"{name}-{suffix}.png")
                with open(path, "wb") as file:
                    file.write(base64.b64decode(shot["data"]))
                print(f"wrote {path}")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
