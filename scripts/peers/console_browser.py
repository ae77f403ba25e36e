#!/usr/bin/env python3
"""Drives Herald's console in headless Chromium (Debian's chromium and chromium-driver, PyPI's
selenium) the way an operator would, for ConsoleTests, and checks every page with axe-core
(PyPI's axe-selenium-python).

    console_browser.py --url URL --key KEY --failed ID --queued ID --scripted ID --bulk-tag TAG --webhook ID

Prints one JSON object: what each step saw, and the serious or critical accessibility
violations of each page. The Swift test judges them.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def start_browser(width=1280):
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},900"):
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def provider_state(driver):
    """The first provider's state on the providers page; None while the page is being replaced."""
    try:
        return driver.find_element(By.CSS_SELECTOR, "tbody tr td:nth-child(4)").text
    except WebDriverException:
        return None


def landing(driver, origin, expected):
    """The path the browser lands on after a click: EXPECTED once it gets there (a click
    returns before the page it asked for has loaded), else where it is after 10 s."""
    wait_for(lambda: driver.current_url.removeprefix(origin) == expected, seconds=10)
    return driver.current_url.removeprefix(origin)


def queued_count(driver):
    """The overview's count of queued emails; None while the script swaps the page's content."""
    try:
        return int(driver.find_element(By.CSS_SELECTOR, "a[href='/console/emails?status=queued']").text)
    except WebDriverException:
        return None


def status_of(driver):
    """The email's status on its page; None while the page is being replaced."""
    try:
        return driver.find_element(By.ID, "status").text
    except WebDriverException:
        return None


def send(url, key, **fields):
    """Accepts one email through the API; returns its id."""
    body = json.dumps({"from": "ada@herald-test.example", "to": ["bob@example.com"], "subject": "Live", "text": "t",
                       **fields}).encode()
    request = urllib.request.Request(url + "/v1/emails", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=10))["id"]


def send_later(url, key):
    """Accepts one email due tomorrow."""
    send(url, key, send_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400)))


def send_now(url, key):
    """Accepts one email due now; returns its id."""
    return send(url, key)


def provider_of(driver):
    """The provider that sent the email on its page; None before it is sent."""
    try:
        return driver.find_element(By.XPATH, "//dt[text()='Provider']/following-sibling::dd[1]").text.split()[0]
    except (WebDriverException, IndexError):
        return None


def sandbox_settings(url, key, name):
    """A sandbox provider's settings as GET /v1/providers shows them."""
    request = urllib.request.Request(url + "/v1/providers", headers={"Authorization": f"Bearer {key}"})
    providers = json.load(urllib.request.urlopen(request, timeout=10))["data"]
    return next(provider for provider in providers if provider["name"] == name).get("sandbox")


def error(driver):
    """The page's error; None while there is none or the page is being replaced."""
    try:
        return driver.find_element(By.CSS_SELECTOR, "p.error").text
    except WebDriverException:
        return None


def tab_to(driver, wanted, presses=40):
    """Presses Tab, as a person at the keyboard would, until the focused element is WANTED (a
    predicate on it); returns it, or None when it never gets the focus."""
    for _ in range(presses):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        focused = driver.switch_to.active_element
        if wanted(focused):
            return focused
    return None


def notice(driver):
    """The page's notice; None while there is none, or while the page is being replaced (the
    element then belongs to a document that is gone)."""
    try:
        return driver.find_element(By.CSS_SELECTOR, ".notice").text
    except WebDriverException:
        return None


def api_status(url, key, path):
    """The status of GET PATH with KEY."""
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for(predicate, seconds=15):
    """Whether PREDICATE holds within SECONDS; asked again while it fails on a page that the
    browser is replacing (its elements then belong to a document that is gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except WebDriverException:
            pass
        time.sleep(0.2)
    return False


def main():
    parser = argparse.ArgumentParser()
    for name in ("url", "key", "failed", "queued", "scripted", "bulk-tag", "webhook", "failover"):
        parser.add_argument(f"--{name}", required=True)
    options = parser.parse_args()
    console = options.url + "/console"
    seen = {}
    violations = {}
    driver = start_browser()

    def audit(page):
        axe = Axe(driver)
        axe.inject()
        result = axe.run()
        violations[page] = [f"{v['id']} ({v['impact']}): {v['help']}" for v in result["violations"]
                            if v["impact"] in ("serious", "critical")]

    try:
        driver.get(console)
        seen["unsigned_lands_on"] = driver.current_url.removeprefix(options.url)
        audit("sign-in")

        # Signed in from the keyboard alone: Tab to the key field, type, Enter.
        field = tab_to(driver, lambda element: element.get_dom_attribute("id") == "key")
        seen["key_field_reached_by_tab"] = field is not None
        (field or driver.find_element(By.ID, "key")).send_keys(options.key + Keys.ENTER)
        seen["signed_in_lands_on"] = landing(driver, options.url, "/console")
        seen["overview_heading"] = driver.find_element(By.TAG_NAME, "h1").text
        seen["overview_providers"] = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "tbody th")]
        seen["activity_series"] = [line.get_dom_attribute("class") for line in driver.find_elements(By.CSS_SELECTOR, "svg polyline")]
        seen["activity_totals"] = {item.get_dom_attribute("class").removeprefix("legend-"): int(item.find_element(By.TAG_NAME, "strong").text)
                                   for item in driver.find_elements(By.CSS_SELECTOR, "ul.legend li")}
        audit("overview")
        # An email accepted now shows on the open overview without a reload.
        before = queued_count(driver)
        send_later(options.url, options.key)
        seen["overview_updated"] = wait_for(lambda: queued_count(driver) == before + 1, seconds=12)

        driver.get(console + "/emails")
        listed = [link.text for link in driver.find_elements(By.CSS_SELECTOR, "tbody th a")]
        seen["listed"] = [email for email in (options.failed, options.queued, options.scripted) if email in listed]
        audit("emails")

        driver.get(console + "/emails?status=failed")
        seen["failed_filter"] = [link.text for link in driver.find_elements(By.CSS_SELECTOR, "tbody th a")]
        # An email opened from the list with the keyboard: Tab to its link, Enter.
        link = tab_to(driver, lambda element: element.text == options.failed)
        if link is not None:
            link.send_keys(Keys.ENTER)
        seen["opened_by_keyboard"] = landing(driver, options.url, f"/console/emails/{options.failed}")
        # Filters are filled in and sent as a person would, and combine.
        driver.get(console + "/emails")
        driver.find_element(By.ID, "tag").send_keys(options.bulk_tag)
        driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
        wait_for(lambda: f"tag={options.bulk_tag}" in driver.current_url, seconds=5)
        seen["tag_filter_count"] = len(driver.find_elements(By.CSS_SELECTOR, "tbody th a"))
        driver.find_element(By.ID, "recipient").send_keys("C1@example.com")
        driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
        wait_for(lambda: "recipient=C1" in driver.current_url, seconds=5)
        seen["tag_and_recipient_filter_count"] = len(driver.find_elements(By.CSS_SELECTOR, "tbody th a"))

        # An email that failed over: its timeline names both attempts, and why the second
        # provider was chosen.
        driver.get(f"{console}/emails/{options.failover}")
        seen["failover_attempts"] = [row.text for row in driver.find_elements(
            By.CSS_SELECTOR, "#attempts tbody tr")]

        driver.get(f"{console}/emails/{options.failed}")
        seen["failed_status"] = status_of(driver)
        seen["failed_attempt_errors"] = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "table tbody tr")]
        audit("email")
        driver.find_element(By.XPATH, "//button[text()='Retry']").click()
        seen["retried_status"] = "sent" if wait_for(lambda: (driver.refresh() or status_of(driver)) == "sent") \
            else status_of(driver)

        driver.get(f"{console}/emails/{options.queued}")
        driver.find_element(By.XPATH, "//button[text()='Cancel']").click()
        wait_for(lambda: status_of(driver) == "cancelled", seconds=5)
        seen["cancelled_status"] = status_of(driver)

        driver.get(f"{console}/emails/{options.scripted}")
        seen["subject_shown"] = driver.find_element(By.ID, "subject").text
        seen["text_shown"] = driver.find_element(By.CSS_SELECTOR, "pre.body").text
        driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe.body"))
        seen["html_shown"] = driver.find_element(By.ID, "inside").text
        # Read through WebDriver, not a script: none may run in the frame.
        seen["html_script_ran"] = driver.find_element(By.TAG_NAME, "body").get_dom_attribute("data-ran") is not None
        driver.switch_to.default_content()
        # Neither the subject nor the HTML body's script set it.
        seen["script_ran"] = driver.execute_script("return window.heraldInjected !== undefined")

        # The emails a bulk cancel would move are counted first, and the count is confirmed.
        driver.get(f"{console}/bulk?status=queued&tag={options.bulk_tag}")
        seen["bulk_matching"] = driver.find_element(By.ID, "matching").text
        audit("bulk")
        driver.find_element(By.XPATH, "//button[starts-with(text(), 'Cancel ')]").click()
        alert = WebDriverWait(driver, 5).until(expected_conditions.alert_is_present())
        seen["bulk_question"] = alert.text
        alert.accept()
        wait_for(lambda: notice(driver), seconds=10)
        seen["bulk_notice"] = notice(driver)
        seen["bulk_matching_after"] = driver.find_element(By.ID, "matching").text

        # An address added to the suppression list shows in it, and goes when removed.
        driver.get(console + "/suppressions")
        driver.find_element(By.ID, "address").send_keys("Gone@Example.com")
        driver.find_element(By.ID, "reason").send_keys("asked to stop")
        driver.find_element(By.XPATH, "//button[text()='Add']").click()
        wait_for(lambda: notice(driver), seconds=10)
        seen["suppression_notice"] = notice(driver)
        seen["suppressed"] = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "tbody th")]
        audit("suppressions")
        driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove gone@example.com']").click()
        wait_for(lambda: (notice(driver) or "").startswith("Removed"), seconds=10)
        seen["suppressed_after_removal"] = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "tbody th")]

        # A key made here is shown once and works; revoked here, it no longer does.
        driver.get(console + "/keys")
        audit("keys")
        tenant = driver.find_element(By.ID, "tenant")
        tenant.clear()
        tenant.send_keys("globex")
        driver.find_element(By.XPATH, "//select[@id='scope']/option[@value='read']").click()
        driver.find_element(By.XPATH, "//button[text()='Make a key']").click()
        wait_for(lambda: driver.find_elements(By.ID, "secret"), seconds=10)
        secret = driver.find_element(By.ID, "secret").get_attribute("value")
        seen["made_key_works"] = api_status(options.url, secret, "/v1/emails") == 200
        key_id = secret.split("_")[1]
        driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Revoke {key_id}']").click()
        WebDriverWait(driver, 5).until(expected_conditions.alert_is_present()).accept()
        wait_for(lambda: notice(driver), seconds=10)
        seen["revoked_notice"] = notice(driver)
        # The API may go on trusting a key it checked for up to a second.
        seen["revoked_key_works"] = not wait_for(lambda: api_status(options.url, secret, "/v1/emails") == 401, seconds=5)

        # The endpoint's deliveries, one sent again, and the endpoint disabled.
        driver.get(console + "/webhooks")
        seen["webhook_endpoints"] = [link.text for link in driver.find_elements(By.CSS_SELECTOR, "tbody th a")]
        audit("webhooks")
        driver.get(f"{console}/webhooks/{options.webhook}")
        seen["webhook_delivered"] = wait_for(
            lambda: (driver.refresh() or "200" in [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(4)")]))
        audit("webhook")
        message = driver.find_element(By.CSS_SELECTOR, "tbody th code").text
        seen["webhook_replayed_message"] = message
        driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Send {message} again']").click()
        wait_for(lambda: notice(driver), seconds=10)
        seen["webhook_replay_notice"] = notice(driver)
        # Disabled only once the message went out again: a disabled endpoint gets nothing.
        seen["webhook_replay_logged"] = wait_for(lambda: (driver.get(f"{console}/webhooks/{options.webhook}") or [
            cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "tbody th code")].count(message) >= 2), seconds=10)
        driver.find_element(By.XPATH, "//button[text()='Disable']").click()
        wait_for(lambda: (notice(driver) or "").startswith("Disabled"), seconds=10)
        seen["webhook_state"] = driver.find_element(By.ID, "state").text

        driver.get(console + "/providers")
        audit("providers")
        seen["latency_chart"] = driver.find_element(By.CSS_SELECTOR, "svg.latency").get_dom_attribute("aria-label")
        seen["latency_lines"] = len([path for path in driver.find_element(By.CSS_SELECTOR, "svg.latency").find_elements(
            By.TAG_NAME, "path") if path.get_dom_attribute("d")])
        # The sandbox's settings, changed in its form: a bad value is refused with the field named,
        # by the server too (the browser's own check on the field is taken off first).
        def set_sandbox(**fields):
            for field, value in fields.items():
                box = driver.find_element(By.ID, f"primary-{field.replace('_', '-')}")
                driver.execute_script("arguments[0].removeAttribute('max')", box)
                box.clear()
                box.send_keys(value)
            page = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(By.XPATH, "//button[text()='Apply']").click()
            WebDriverWait(driver, 10).until(expected_conditions.staleness_of(page))
        set_sandbox(failure_rate="2")
        seen["sandbox_refusal"] = error(driver)
        set_sandbox(latency="7", failure_rate="0.25")
        seen["sandbox_notice"] = notice(driver)
        seen["sandbox_settings"] = sandbox_settings(options.url, options.key, "primary")
        set_sandbox(failure_rate="0")

        driver.find_element(By.XPATH, "//button[text()='pause']").click()
        seen["paused_state"] = "paused" if wait_for(lambda: provider_state(driver) == "paused") else provider_state(driver)
        # Traffic moves: an email sent while the primary is paused goes out through the secondary.
        moved = send_now(options.url, options.key)
        driver.get(f"{console}/emails/{moved}")
        wait_for(lambda: (driver.refresh() or status_of(driver)) == "sent", seconds=15)
        seen["paused_traffic_provider"] = provider_of(driver)
        driver.get(console + "/providers")
        driver.find_element(By.XPATH, "//button[text()='resume']").click()
        wait_for(lambda: provider_state(driver) not in ("paused", None))
        seen["resumed_state"] = provider_state(driver)
        driver.get(console)
        seen["overview_changes"] = [cell.text for cell in driver.find_elements(
            By.CSS_SELECTOR, "section[aria-labelledby='changes'] tbody td:nth-child(3)")]

        driver.set_window_size(390, 844)
        seen["phone_scroll_widths"] = {}
        for page in ("", "/emails", f"/emails/{options.failed}", "/providers", "/keys"):
            driver.get(console + page)
            seen["phone_scroll_widths"][page or "/"] = driver.execute_script("return document.documentElement.scrollWidth")

        driver.find_element(By.CSS_SELECTOR, "form.sign-out button").click()
        seen["signed_out_lands_on"] = landing(driver, options.url, "/console/sign-in")
        driver.get(console)
        seen["after_sign_out_lands_on"] = driver.current_url.removeprefix(options.url)
    finally:
        driver.quit()
    json.dump({"seen": seen, "violations": violations}, sys.stdout)


if __name__ == "__main__":
    main()
