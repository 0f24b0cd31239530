"""`diff --format html` (inspectr/present/html.py, docs/formats/html.md): one self-contained page.

Unit tests read the document as text: the CSP and its hashes, no reference to anything outside
the page, and hostile names escaped in the HTML and inert in the JSON block. Browser tests load
real reports in headless Chromium (tests/browser.py): every changed path can be found, the filters
and the search work, text diffs render side by side, a hostile report runs nothing, and the page
makes no request. Outside CI they skip where Chromium or selenium is missing; under CI a skip
fails the session (tests/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from browser import missing, requests_sent, start_chromium
from inspectr.diff.difference import Cause, Change, Difference, FieldChange, Side, Verdict
from inspectr.diff.options import DiffOptions
from inspectr.diff.run import DiffResult, diff_references
from inspectr.present.html import diff_html
from inspectr.present.safe import display_text
from inspectr.present.table import present
from inspectr.session import Session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
APP_V1 = f"oci:{FIXTURES}/packages/layout:app-v1"
APP_V2 = f"oci:{FIXTURES}/packages/layout:app-v2"

# Names an image can carry, each an attack on the page: markup, attribute break-outs, the end of
# the JSON block, an HTML comment opener, terminal escapes, a byte that is not UTF-8 (a lone
# surrogate after surrogateescape), line and paragraph separators, and a bidi override.
HOSTILE = [
    "<script>window.__pwned=1</script>",
    "srv/</script><script>window.__pwned=2</script>",
    "srv/\" onmouseover=\"window.__pwned=3\" x=\"",
    "srv/' onclick='window.__pwned=4",
    "srv/<img src=x onerror=\"window.__pwned=5\">",
    "srv/<!--<script>window.__pwned=6</script>-->",
    "srv/\x1b[31mred\x1b[0m",
    "srv/caf\udce9",
    "srv/line\u2028sep\u2029par",
    "srv/\u202eexe.txt",
    "srv/&amp;&lt;entity",
]
RAW = ["<script>window", "</script><script>", "\" onmouseover=", "' onclick=", "<img", "<!--<", "\x1b", "\u2028",
       "\u2029", "\u202e", "&amp;&lt;entity"]


def _hostile_result() -> DiffResult:
    changes = []
    for i, name in enumerate(HOSTILE):
        changes.append(Change(
            "file", name, "modified", Cause.CONTENT,
            [FieldChange("sha256", "a" * 64, "b" * 64, Cause.CONTENT), FieldChange("linkname", name, name + "x", Cause.CONTENT)],
            a=Side(0, f"RUN echo {name}"), b=Side(1, f"RUN echo {name} again"),
            content_diff=f"--- a/{name}\n+++ b/{name}\n@@ -1 +1 @@\n-{name}\n+{name}!\n",
            note=f"note {name}", owners=(f"pkg{name} 1", None), explained=False,
            accepted_by=f"policy p.toml: {name}" if i % 2 else None))
    changes.append(Change("package", "deb:<b>evil</b>:amd64", "added", Cause.CONTENT,
                          [FieldChange("version", None, "1<script>", Cause.CONTENT)], b=Side(1, None), paths=HOSTILE[:3]))
    changes.append(Change("config", "config.Labels.</script>", "modified", Cause.CONTENT,
                          [FieldChange("value", "\x1b]8;;http://evil/\x07", "<svg onload=x>", Cause.CONTENT)]))
    d = Difference({"reference": "a<script>.tar", "format": "oci-archive"}, {"reference": "b\x1b[2J\udcff.tar", "format": "oci-archive"},
                   Verdict.DIFFERENT, changes, "different: <b>explained</b>", ["content: </script> hint"])
    return DiffResult(d, d.a, d.b)


def _app_result(options: DiffOptions | None = None) -> DiffResult:
    return diff_references(APP_V1, APP_V2, options or DiffOptions(), session=Session())


def _split(page: str) -> tuple[str, str]:
    """(the page without the JSON block's content, the JSON block's content)."""
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert m is not None
    return page[:m.start(1)] + page[m.end(1):], m.group(1)


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# -- the document as text ----------------------------------------------------------------------


def test_page_has_a_strict_csp_naming_the_hashes_of_its_own_style_and_script() -> None:
    page = diff_html(_app_result())
    (csp,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    csp = csp.replace("&#39;", "'")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.S)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == f"'{_sha256(style)}'"
    assert directives["script-src"] == f"'{_sha256(scripts[0])}'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    assert "unsafe" not in csp
    # The policy comes before anything it governs.
    assert page.index("Content-Security-Policy") < page.index("<style>") < page.index("<script")


def test_page_refers_to_nothing_outside_itself() -> None:
    page = diff_html(_app_result())
    assert not re.search(r"""\b(src|href|action|srcset|poster|data)\s*=""", page, re.I)
    # URLs in the data (dpkg's status lists each package's Homepage) are text the script sets as
    # textContent, never a link; the markup, style and script name none.
    markup = _split(page)[0]
    assert "https://github.com/stedolan/jq" in page
    assert not re.search(r"https?:|//[a-z]", markup.replace("http-equiv", ""), re.I)
    assert "@import" not in page and "url(" not in page
    assert " style=" not in page and " on" + "click=" not in page  # no inline styles or handlers: the CSP would block them
    page.encode("ascii")  # one encoding-proof document


def test_hostile_names_appear_nowhere_raw_and_the_json_block_cannot_be_closed() -> None:
    page = diff_html(_hostile_result())
    html_part, block = _split(page)
    for raw in RAW:
        assert raw not in html_part, raw
    assert page.count("<script") == 2 and page.count("</script>") == 2
    # Inside the block quotes are JSON's business; what could end the element or confuse a
    # parser is gone: no `<`, `>` or `&` (so no `</script>` or `<!--`), and nothing but ASCII.
    assert "<" not in block and ">" not in block and "&" not in block
    block.encode("ascii")
    assert "\\u003c/script\\u003e" in block
    assert "\udce9" not in page and "\udcff" not in page
    assert "caf\\\\xe9" in block  # JSON for the text `caf\xe9`
    assert "&lt;b&gt;evil&lt;/b&gt;" in html_part  # the package table, autoescaped
    assert "a&lt;script&gt;.tar" in html_part and "b\\x1b[2J\\xff.tar" in html_part
    assert "&lt;/script&gt; hint" in html_part
    # The block is JSON whose strings are the names as display_text shows them.
    data = json.loads(block)
    paths = {c["p"] for c in data["changes"]}
    assert {display_text(n) for n in HOSTILE} <= paths
    assert "srv/caf\\xe9" in paths and "srv/\\x1b[31mred\\x1b[0m" in paths and "srv/line\\u2028sep\\u2029par" in paths


def test_hostile_names_in_every_field_of_a_change_are_display_escaped() -> None:
    data = json.loads(_split(diff_html(_hostile_result()))[1])
    strings = json.dumps(data, ensure_ascii=False)
    for raw in ("\x1b", "\udce9", "\u2028", "\u202e", "\x07"):
        assert raw not in strings, repr(raw)
    change = next(c for c in data["changes"] if c["p"] == "srv/caf\\xe9")
    assert change["d"].splitlines()[3] == "-srv/caf\\xe9"
    assert change["o"].startswith("package: pkgsrv/caf\\xe9 1")
    assert data["strings"][change["A"][1]] == "RUN echo srv/caf\\xe9"


def test_identical_result_renders_a_summary_only() -> None:
    a = {"reference": "x.tar", "format": "oci-archive", "manifest_digest": "sha256:" + "0" * 64}
    page = diff_html(DiffResult(None, a, dict(a, reference="y.tar")))
    assert "inspectr diff: identical" in page and "the images are identical" in page
    assert 'id="list"' not in page


def test_the_presenter_table_writes_the_page_for_format_html() -> None:
    out = io.StringIO()
    result = _app_result()
    present(result, "html", out)
    assert out.getvalue() == diff_html(result)
    assert out.getvalue().startswith("<!DOCTYPE html>") and out.getvalue().rstrip().endswith("</html>")


def test_layer_table_carries_sizes_and_package_table_the_versions() -> None:
    page = diff_html(_app_result())
    assert "<h2>Layers</h2>" in page and "585.5 KiB" in page  # app-v2's L2 uncompressed (less + libtinfo6)
    assert "deb:less:amd64" in page and "590-2.1~deb12u2" in page


# -- in Chromium -------------------------------------------------------------------------------


needs_browser = pytest.mark.needs_browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    why = missing()
    if why:
        pytest.skip(why)
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def app_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DiffResult]:
    result = _app_result()
    path = tmp_path_factory.mktemp("report") / "app.html"
    path.write_text(diff_html(result), encoding="ascii")
    return path, result


def _load(driver: Any, path: Path) -> None:
    driver.get(path.as_uri())
    _wait(driver, "return document.documentElement.dataset.ready === '1'")


def _wait(driver: Any, script: str, *args: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 10, poll_frequency=0.02).until(lambda d: d.execute_script(script, *args))


def _rows(driver: Any) -> list[str]:
    return list(driver.execute_script("return [...document.querySelectorAll('#list .row .path')].map(e => e.textContent)"))


def _search(driver: Any, text: str) -> list[str]:
    before = driver.execute_script("return document.documentElement.dataset.renders")
    box = driver.find_element("id", "search")
    box.clear()
    box.send_keys(text)
    _wait(driver, "return document.documentElement.dataset.renders !== arguments[0]", before)
    return _rows(driver)


@needs_browser
def test_every_changed_path_is_listed_and_found_by_search(browser: Any, app_report: tuple[Path, DiffResult]) -> None:
    path, result = app_report
    assert result.difference is not None
    _load(browser, path)
    listed = [c.path for c in result.difference.changes if c.subject != "package"]
    assert sorted(_rows(browser)) == sorted(listed)
    for changed in listed:
        assert changed in _search(browser, changed), changed
    assert _search(browser, "ETC/APP/APP.CONF") == ["etc/app/app.conf"]  # case-insensitive
    assert _search(browser, "no-such-path") == []
    assert "nothing matches" in browser.find_element("id", "status").text


@needs_browser
def test_files_no_package_change_explains_come_first(browser: Any, app_report: tuple[Path, DiffResult]) -> None:
    _load(browser, app_report[0])
    groups = browser.execute_script("return [...document.querySelectorAll('#list .group')].map(e => e.textContent)")
    assert groups[0] == "Files no package change explains (2)"
    assert _rows(browser)[:2] == ["etc/app/app.conf", "opt/app/report"]


@needs_browser
def test_class_filter_hides_and_shows_a_class(browser: Any, app_report: tuple[Path, DiffResult]) -> None:
    _load(browser, app_report[0])
    badges = "return [...document.querySelectorAll('#list .row .badge')].map(e => e.textContent)"
    assert "history" in browser.execute_script(badges)
    toggle = browser.find_element("css selector", "#classes input[data-cause='6']")  # Cause.HISTORY
    assert toggle.find_element("xpath", "..").text.startswith("history")
    toggle.click()
    _wait(browser, "return !document.querySelector('#list .badge.c6')")
    shown = browser.execute_script(badges)
    assert "history" not in shown and len(shown) == 40 - 4
    toggle.click()
    _wait(browser, "return document.querySelectorAll('#list .row').length === 40")
    assert browser.execute_script(badges).count("history") == 4


@needs_browser
def test_acceptance_filter_shows_open_or_accepted_changes(browser: Any, tmp_path: Path) -> None:
    result = _app_result(DiffOptions.semantic())
    assert result.difference is not None
    accepted = sorted(c.path for c in result.difference.changes if c.accepted and c.subject != "package")
    assert accepted  # --semantic accepts the history and layer-boundaries changes
    path = tmp_path / "semantic.html"
    path.write_text(diff_html(result))
    _load(browser, path)
    browser.find_element("css selector", "#acceptance input[value='accepted']").click()
    _wait(browser, "return document.querySelectorAll('#list .row').length === arguments[0]", len(accepted))
    assert sorted(_rows(browser)) == accepted
    browser.find_element("css selector", "#acceptance input[value='open']").click()
    _wait(browser, "return !document.querySelector('#list .row.acc')")
    assert not set(_rows(browser)) & set(accepted)


@needs_browser
def test_text_diff_renders_side_by_side(browser: Any, app_report: tuple[Path, DiffResult]) -> None:
    _load(browser, app_report[0])
    browser.find_element("xpath", "//div[@id='list']//span[@class='path'][text()='etc/app/app.conf']").click()
    table = browser.find_element("css selector", "#list .details table.sbs")
    heads = [th.text for th in table.find_elements("css selector", "thead th")]
    assert heads == ["a/etc/app/app.conf", "b/etc/app/app.conf"]
    (line,) = [tr for tr in table.find_elements("css selector", "tbody tr") if tr.get_attribute("class") != "hunk"]
    cells = line.find_elements("css selector", "td")
    assert [c.get_attribute("class") for c in cells] == ["ln", "tx del", "ln", "tx ins"]
    assert cells[0].text == "1" and '"0.0.0.0:8080"' in cells[1].text
    assert cells[2].text == "1" and '"0.0.0.0:9090"' in cells[3].text and '"pager"' in cells[3].text
    details = browser.find_element("css selector", "#list .details").text
    assert "owned by no package" in details and "layer 1: inspectr package fixture L1: app 2.0.0" in details


@needs_browser
def test_directory_tree_scopes_the_list(browser: Any, app_report: tuple[Path, DiffResult]) -> None:
    _load(browser, app_report[0])
    _wait(browser, "return document.querySelector('#tree-root summary')")
    dirs = browser.execute_script("return [...document.querySelectorAll('#tree-root > details > summary .dir')].map(e => e.textContent)")
    assert dirs == ["etc/", "opt/app/", "usr/", "var/lib/dpkg/"]  # one-child chains folded
    browser.find_element("xpath", "//div[@id='tree-root']/details/summary[span='usr/']").click()
    _wait(browser, "return document.getElementById('scope-path').textContent === 'usr'")
    rows = _rows(browser)
    assert len(rows) == 17 and all(r.startswith("usr/") for r in rows)
    browser.find_element("id", "scope-clear").click()
    _wait(browser, "return document.querySelectorAll('#list .row').length === 40")


@needs_browser
def test_page_makes_no_request_but_its_own_document(browser: Any, app_report: tuple[Path, DiffResult]) -> None:
    requests_sent(browser)  # drop the earlier tests' log
    _load(browser, app_report[0])
    for head in browser.find_elements("css selector", "#list .row .head"):
        head.click()  # every detail and diff drawn
    browser.execute_script("document.querySelectorAll('#tree details').forEach(d => d.open = true)")
    assert set(requests_sent(browser)) == {app_report[0].as_uri()}


@needs_browser
def test_hostile_report_runs_nothing_and_shows_names_escaped(browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    path = tmp_path / "hostile.html"
    path.write_text(diff_html(_hostile_result()))
    browser.get_log("browser")
    _load(browser, path)
    for head in browser.find_elements("css selector", "#list .row .head"):
        head.click()
    browser.execute_script("document.querySelectorAll('#tree details').forEach(d => d.open = true)")
    for head in browser.find_elements("css selector", "#list .row .head, #tree .leaf"):
        browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))", head)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    assert sorted(_rows(browser)) == sorted([display_text(n) for n in HOSTILE] + ["config.Labels.</script>"])
    assert browser.execute_script("return document.querySelectorAll('script').length") == 2
    assert browser.execute_script("return document.querySelectorAll('img, svg, iframe, object, embed').length") == 0
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no CSP violation either: nothing tried to run


@needs_browser
def test_screenshot_of_the_app_report_renders(browser: Any, app_report: tuple[Path, DiffResult], tmp_path: Path) -> None:
    _load(browser, app_report[0])
    browser.find_element("xpath", "//div[@id='list']//span[@class='path'][text()='etc/app/app.conf']").click()
    png = browser.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000  # more than a blank page
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == tuple(browser.execute_script("return [innerWidth, innerHeight]"))


def test_text_diffs_keep_tabs_and_the_no_newline_marker_but_paths_show_tabs_escaped() -> None:
    change = Change("file", "etc/a\tb.conf", "modified", Cause.CONTENT, [FieldChange("size", 1, 2, Cause.CONTENT)],
                    content_diff="--- a/x\n+++ b/x\n@@ -1 +1 @@\n-\tkey = 1\n+\tkey = \x1b[2J2\n\\ No newline at end of file\n")
    d = Difference({"reference": "a", "format": "f"}, {"reference": "b", "format": "f"}, Verdict.DIFFERENT, [change], "x")
    (record,) = json.loads(_split(diff_html(DiffResult(d, d.a, d.b)))[1])["changes"]
    assert record["p"] == "etc/a\\x09b.conf"
    assert record["d"].split("\n")[3:] == ["-\tkey = 1", "+\tkey = \\x1b[2J2", "\\ No newline at end of file", ""]


def test_the_cli_writes_html_to_stdout_and_into_the_report_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clirun import run_main

    layout = Path(__file__).resolve().parent.parent / "fixtures" / "packages" / "layout"
    a, b = f"oci:{layout}:app-v1", f"oci:{layout}:app-v2"
    code, out, err = run_main(capsys, "--no-cache", "diff", "-f", "html", a, b)
    assert code == 1 and out.startswith("<!DOCTYPE html>") and "etc/app/app.conf" in out, err
    code, out, err = run_main(capsys, "--no-cache", "diff", "--report-dir", str(tmp_path / "r"), a, b)
    assert code == 1 and (tmp_path / "r" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "r" / "report.json").is_file()
