"""The dashboard in a real browser: Debian's headless Chromium, driven by Selenium, looks at a
small finished study and checks what a person would see: the study's name, its trials, and a
trial's PNG picture that actually loads. Screenshots go to test-output/ (look at them).

Skipped only when /usr/bin/chromium is missing and $SPARSESEARCH_REQUIRE_BROWSER is unset;
CI sets it, so there a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import matplotlib
import pytest
import yaml

from search.dashboard import DashboardProcess
from search.studyfile import load_spec
from tests.helpers import ROOT, study_doc
from tests.search.test_dashboard_cli import run_trials

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS = ROOT / "test-output"
STUDY = "dashboard-browser"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1300",
]
WAIT_S = 30
PNG_IMG = 'img[alt="trial-curve.png"]'  # an image artifact is shown as an <img> named after its file


def _browser_or_skip():
    """Selenium's module, or skip (fail when $SPARSESEARCH_REQUIRE_BROWSER is set) without a browser."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium.webdriver as webdriver
    except ImportError:
        missing.append("the selenium package")
        webdriver = None
    if missing:
        reason = (
            f"the browser test needs {', '.join(missing)} "
            "(apt-get install chromium chromium-driver; pip install selenium)"
        )
        if os.environ.get("SPARSESEARCH_REQUIRE_BROWSER", "0") not in ("", "0"):
            pytest.fail(f"SPARSESEARCH_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    return webdriver


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (Debian's, never a downloaded one) with a fresh profile."""
    webdriver = _browser_or_skip()
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch a browser or driver
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _picture(path: Path) -> Path:
    """A real matplotlib PNG, like the ones the experiments upload."""
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    ax.plot([1, 2, 3], [0.9, 0.5, 0.4], marker="o", label="loss")
    ax.set(title="loss per step", xlabel="step", ylabel="loss")
    ax.legend()
    fig.savefig(path)
    plt.close(fig)
    return path


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, browser) -> str:
    """The URL of a dashboard serving a finished 3-trial study whose trial 1 has a PNG artifact."""
    tmp = tmp_path_factory.mktemp("dashboard")
    doc = study_doc(STUDY, study={"storage": f"sqlite:///{tmp}/study.db", "artifacts": f"{tmp}/artifacts"})
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    run_trials(load_spec(path), 3, png=_picture(tmp / "trial-curve.png"))
    with DashboardProcess(path, port=0) as url:
        yield url


def _wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(lambda d: condition(d), message=what)


def _text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def test_study_page_shows_name_and_trials(browser, dashboard: str) -> None:
    browser.get(dashboard)
    _wait(browser, lambda d: STUDY in _text(d) and "trial #2" in _text(d), "study name and trial list")
    text = _text(browser)
    assert all(f"trial #{n}" in text for n in range(3)), text[:2000]
    SHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SHOTS / "dashboard-study.png"))


def test_trial_page_shows_its_png_and_it_loads(browser, dashboard: str) -> None:
    browser.get(f"{dashboard}/trials?numbers=1")
    img = _wait(
        browser, lambda d: next(iter(d.find_elements("css selector", PNG_IMG)), None), "the trial's artifact <img>"
    )
    loaded = "return arguments[0].complete && arguments[0].naturalWidth > 0"
    _wait(browser, lambda d: d.execute_script(loaded, img), "the PNG to load")
    size = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
    assert size == [320, 240], "the whole 4 x 3 in, 80 dpi figure was decoded"
    text = _text(browser)
    assert "Trial 1" in text and "Artifacts" in text and "trial-curve.png" in text
    assert all(f"Trial {n}" in text for n in range(3)), "the trial list"
    # What the page fetched is a PNG served as one (not an error page the browser happened to render).
    served = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0].src).then(async r => done([r.status, r.headers.get("
        "'content-type'), Array.from(new Uint8Array(await r.arrayBuffer()).slice(0, 8))]))",
        img,
    )
    assert served == [200, "image/png", [137, 80, 78, 71, 13, 10, 26, 10]], served
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", img)
    SHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SHOTS / "dashboard-trial.png"))
