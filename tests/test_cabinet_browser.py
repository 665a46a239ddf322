"""The cabinet in a real browser (Debian's chromium through its chromium-driver): a school and its methodist
go through a whole reporting round, from the template to the municipal summary. Set SVOD_SCREENSHOTS=DIR to
keep the screenshots the README shows."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import openpyxl
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from cabinet import engine
from cabinet.accounts import create_account
from cabinet.models import Role
from pipeline import in_process
from tests.support.cabinet import PASSWORD, filled

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]
SCHOOL, M, SLUG = "ARH-001", "arkhangelsk", "2026-Q4"
WAIT_SECONDS = 60


@pytest.fixture
def browser(tmp_path, request):
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--lang=ru",
    ):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "intl.accept_languages": "ru",
        },
    )
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.downloads = downloads
    yield driver
    if getattr(request.node, "failed", False):  # keep what the browser showed
        driver.save_screenshot(str(tmp_path / "failure.png"))
        (tmp_path / "failure.html").write_text(driver.page_source, encoding="utf-8")
        print(f"browser at {driver.current_url}; screenshot and page in {tmp_path}")
    driver.quit()


def wait(driver, condition, what: str):
    """Until `condition` holds; a page replaced while it is read is read again."""
    return WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: condition(d), message=what
    )


def page(driver) -> str:
    return re.sub(r"\s+", " ", driver.find_element(By.TAG_NAME, "body").text)


def downloaded(driver, pattern: str) -> Path:
    def found(_):
        files = [p for p in driver.downloads.glob(pattern) if not p.name.endswith(".crdownload")]
        return files[0] if files else None

    return wait(driver, found, f"download {pattern}")


def log_in(driver, base: str, username: str) -> None:
    driver.get(base + "/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(driver, lambda d: "/login/" not in d.current_url, "logged in")


def log_out(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form.who button").click()
    wait(driver, lambda d: "/login/" in d.current_url, "logged out")


def shoot(driver, name: str) -> None:
    folder = os.environ.get("SVOD_SCREENSHOTS")
    if folder:
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(max(height + 160, 700), 2400))
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))
        driver.set_window_size(1280, 900)


def hand_in(driver, path: Path) -> str:
    driver.find_element(By.ID, "id_file").send_keys(str(path))
    driver.find_element(By.XPATH, "//button[contains(., 'Загрузить и проверить')]").click()
    wait(
        driver, lambda d: "/upload/" in d.current_url and "Результат проверки" in page(d), "the verdict page"
    )
    return page(driver)


AXE = (
    Path(__file__).parent / "support" / "axe" / "axe.min.js"
)  # axe-core 4.14.1 from the npm registry (MPL-2.0)
AXE_RUN = """const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(
  v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))));"""


SETTLED = (  # loaded, and every part a page loads by htmx in place (`hx-trigger="load"`)
    "return document.readyState === 'complete' && !document.querySelector('.htmx-request, [hx-trigger=load]')"
)


def accessible(driver) -> None:
    """axe-core finds no serious or critical violation on the page the browser shows (loaded, and its htmx
    requests answered)."""
    wait(driver, lambda d: d.execute_script(SETTLED), "the page loaded")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    violations = driver.execute_async_script(AXE_RUN)
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, (driver.current_url, serious)


def refused(driver, path: Path, message: str) -> None:
    """Handing in `path` is refused with `message` on the same page, the file still chosen in the form."""
    driver.find_element(By.ID, "id_file").send_keys(str(path))
    driver.find_element(By.XPATH, "//button[contains(., 'Загрузить и проверить')]").click()
    wait(driver, lambda d: message in d.find_element(By.ID, "upload-errors").text, message)
    assert driver.find_element(By.ID, "id_file").get_attribute("value").endswith(path.name)


def chip(driver, status: str) -> int:
    return int(driver.find_element(By.CSS_SELECTOR, f"span[data-status={status}]").text)


def test_a_reporting_round_in_the_browser(browser, live_server, tmp_path, settings):
    base = live_server.url
    create_account(Role.SCHOOL, SCHOOL, password=PASSWORD)
    create_account(Role.METHODIST, M, password=PASSWORD)

    # 1. the school logs in and downloads its template
    browser.get(base + "/login/")
    accessible(browser)
    log_in(browser, base, SCHOOL.lower())
    accessible(browser)
    browser.find_element(By.XPATH, f"//a[contains(@href, '/o/{SCHOOL}/{SLUG}/')]").click()
    accessible(browser)
    browser.find_element(By.XPATH, "//a[contains(., 'Скачать шаблон')]").click()
    template = downloaded(browser, f"*{SCHOOL}.xlsx")
    return_page = browser.current_url

    # 2. a return with an error: the error is shown with its sheet and cell
    text = hand_in(browser, filled(template, tmp_path / "с_ошибкой.xlsx", "bad_date"))
    assert "Отчёт не принят" in text and "Наставнические пары и группы" in text and "31.02.2025" in text
    cell = browser.find_element(By.CSS_SELECTOR, "tr.error td.cell").text.split()[0]
    assert re.fullmatch(r"[A-Z]+\d+", cell)
    accessible(browser)
    shoot(browser, "cabinet_upload_result")

    # 3. the annotated copy, then a fixed version: accepted
    browser.find_element(By.XPATH, "//a[contains(., 'файл с пометками')]").click()
    assert "Ошибки" in openpyxl.load_workbook(downloaded(browser, "*с_пометками.xlsx")).sheetnames
    browser.get(return_page)
    text = hand_in(browser, filled(template, tmp_path / "исправлен.xlsx"))
    assert "Отчёт принят" in text and "Исправлено замечаний: 1" in text

    # 3b. never silent: an ended session and an oversized file each say what happened, and the file stays chosen
    browser.get(return_page)
    browser.delete_cookie("sessionid")
    refused(browser, filled(template, tmp_path / "после_выхода.xlsx"), "Сеанс закончился")
    log_in(browser, base, SCHOOL.lower())
    settings.UPLOAD_LIMIT_BYTES = 64 * 1024
    browser.get(return_page)
    big = tmp_path / "большой.xlsx"
    big.write_bytes(os.urandom(256 * 1024))
    refused(browser, big, "Файл слишком большой")
    accessible(browser)
    log_out(browser)

    # 4. the methodist returns it with a reason; the school sees the reason
    log_in(browser, base, f"metodist-{M}")
    browser.get(f"{base}/o/{SCHOOL}/{SLUG}/")
    browser.find_element(By.XPATH, "//form[.//button[contains(., 'Вернуть')]]//textarea").send_keys(
        "Приложите приказ о закреплении пар"
    )
    browser.find_element(By.XPATH, "//button[contains(., 'Вернуть на доработку')]").click()
    wait(browser, lambda d: "Решение записано" in page(d), "the decision")
    log_out(browser)
    log_in(browser, base, SCHOOL.lower())
    assert "возвращён на доработку" in page(browser) and "Приложите приказ о закреплении пар" in page(browser)

    # 5. the school hands in again; the methodist approves; the board's counts follow
    browser.get(return_page)
    time.sleep(1.1)  # a new second: the warehouse orders arrivals by the second
    assert "Отчёт принят" in hand_in(browser, filled(template, tmp_path / "с_приказом.xlsx", seed=8))
    log_out(browser)
    log_in(browser, base, f"metodist-{M}")
    browser.get(f"{base}/m/{M}/{SLUG}/")
    before = {s: chip(browser, s) for s in ("accepted", "approved", "returned")}
    browser.get(f"{base}/o/{SCHOOL}/{SLUG}/")
    accessible(browser)
    shoot(browser, "cabinet_school_page")
    browser.find_element(By.XPATH, "//button[contains(., 'Утвердить')]").click()
    wait(browser, lambda d: "Решение записано: утверждён" in page(d), "the approval")
    browser.get(f"{base}/m/{M}/{SLUG}/")
    after = {s: chip(browser, s) for s in before}
    assert after == {**before, "accepted": before["accepted"] - 1, "approved": before["approved"] + 1}
    accessible(browser)
    shoot(browser, "cabinet_board")

    # 6. consolidation, its progress, and the summary (this test runs what the daemon would)
    browser.find_element(By.XPATH, "//button[contains(., 'Запустить свод')]").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#job .job"), "the job on the board")
    assert in_process.run_asked(engine.workspace())
    link = wait(browser, lambda d: d.find_elements(By.ID, "job-summary"), "the finished job")[0]
    assert "готово" in page(browser)
    link.click()
    summary = downloaded(browser, f"svod_{M}_*.xlsx")
    assert len(openpyxl.load_workbook(summary, read_only=True).sheetnames) > 1

    # 7. the numbers in the browser: the indicators against their targets, one traced to the school cells
    browser.get(f"{base}/m/{M}/{SLUG}/indicators/")
    assert "показатели муниципалитета" in page(browser)
    accessible(browser)
    shoot(browser, "cabinet_indicators")
    browser.find_element(By.CSS_SELECTOR, "td.num a").click()
    wait(browser, lambda d: "Откуда это число" in page(d), "the figure's lineage")
    figure_url = browser.current_url
    assert "Ячейки отчётов ОО" in page(browser)
    accessible(browser)
    shoot(browser, "cabinet_figure")
    for url in ("/staff/", f"/users/{M}/", f"/audit/{M}/", "/password/change/"):
        browser.get(base + url)
        accessible(browser)

    # 7b. before deciding on a version, what it changes in the published figures
    browser.get(f"{base}/o/{SCHOOL}/{SLUG}/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#impact table"), "the version's impact")
    assert "Без этой версии" in page(browser) and "С ней (в сводке)" in page(browser)
    accessible(browser)
    shoot(browser, "cabinet_impact")

    # 8. a phone: every page fits 390 px (wide tables scroll inside the page), «Выйти» on screen
    browser.set_window_size(390, 844)
    for url in (
        f"/m/{M}/{SLUG}/",
        f"/m/{M}/{SLUG}/indicators/",
        f"/o/{SCHOOL}/{SLUG}/",
        f"/users/{M}/",
        figure_url,
    ):
        browser.get(url if url.startswith("http") else base + url)
        wide = browser.execute_script("return document.documentElement.scrollWidth")
        assert wide <= 390, (url, wide, browser.execute_script(WIDER_THAN_SCREEN))
        out = browser.find_element(By.CSS_SELECTOR, "form.who button").rect
        assert out["x"] + out["width"] <= 390, url
    shoot_phone(browser, "cabinet_board_phone", f"{base}/m/{M}/{SLUG}/")
    shoot_phone(browser, "cabinet_indicators_phone", f"{base}/m/{M}/{SLUG}/indicators/")
    shoot_phone(browser, "cabinet_impact_phone", f"{base}/o/{SCHOOL}/{SLUG}/")
    shoot_phone(browser, "cabinet_figure_phone", figure_url)
    log_out(browser)
    log_in(browser, base, SCHOOL.lower())
    for url in ("/school/", f"/o/{SCHOOL}/{SLUG}/"):
        browser.get(base + url)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390, url
    shoot_phone(browser, "cabinet_school_home_phone", f"{base}/school/")
    browser.set_window_size(1280, 900)


WIDER_THAN_SCREEN = """return [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth && !e.closest('table.grid, .scroll'))
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));"""


def shoot_phone(driver, name: str, url: str) -> None:
    folder = os.environ.get("SVOD_SCREENSHOTS")
    if folder:
        driver.get(url)
        wait(driver, lambda d: d.execute_script(SETTLED), "the page loaded")
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(390, min(max(height + 160, 844), 2400))
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))
        driver.set_window_size(390, 844)
