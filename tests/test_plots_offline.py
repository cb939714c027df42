"""`dvc plots show` draws every plot with no network: the page DVC fills is the project's own template with vega,
vega-lite and vega-embed inlined (.dvc/config: plots.html_template), opened here in headless Chromium offline."""
import re
import sys

from tests.conftest import ROOT, run_ok
from tests.test_web import browser_binaries  # noqa: F401  (the fixture)

DRAWN = """
const embeds = Array.from(document.querySelectorAll('.vega-embed'));
return {embeds: embeds.length,
        drawn: embeds.filter(e => e.querySelector('canvas, svg') && e.getBoundingClientRect().height > 50).length};
"""


def test_the_template_inlines_its_scripts():
    page = (ROOT / ".dvc" / "plots" / "index.html").read_text(encoding="utf-8")
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC's own CDN script tags have no place to go
    assert not re.search(r"<script[^>]+src=", page) and "vegaEmbed" in page
    assert (ROOT / ".dvc" / "plots" / "LICENSES.txt").read_text().count("(npm)") == 3


def test_plots_show_draws_every_plot_offline(pipeline_project, browser_binaries, tmp_path):  # noqa: F811
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    dest, env, _ = pipeline_project
    out = tmp_path / "plots"
    run_ok([sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)], dest, env)  # plain: the config's page
    page = (out / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)  # nothing to fetch: the scripts are inline
    expected = page.count("vegaEmbed('#")
    assert expected >= 2 * 8  # a training record and a confusion per approach, the ensemble's confusion
    chromium, chromedriver = browser_binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000", "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: offline
                 "--disable-background-networking"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                      "downloadThroughput": 0, "uploadThroughput": 0})
        browser.get((out / "index.html").as_uri())
        WebDriverWait(browser, 60).until(lambda d: d.execute_script(DRAWN)["drawn"] == expected)
        assert browser.execute_script(DRAWN) == {"embeds": expected, "drawn": expected}
        browser.save_screenshot(str(tmp_path / "plots.png"))
    finally:
        browser.quit()
