"""`--format html` (inspectr/present/html.py, html_reports.py, docs/formats/html.md): one
self-contained page for diff, and for audit, verify, gate and behave (below the diff's tests).

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
from inspectr.audit.findings import AuditReport, Efficiency, Finding, Severity
from inspectr.diff.difference import Cause, Change, Difference, FieldChange, Side, Verdict
from inspectr.diff.options import DiffOptions
from inspectr.diff.run import DiffResult, diff_references
from inspectr.gate.engine import GateCheck, GateReport, run_gate
from inspectr.gate.policy import GatePolicy
from inspectr.present.audit import AuditVerdict
from inspectr.present.html import diff_html
from inspectr.present.html_reports import audit_html, behaviour_html, gate_html, verification_html
from inspectr.present.safe import display_text
from inspectr.present.table import present
from inspectr.runtime.behave import BehaviourReport, Probe, ProbeOutcome
from inspectr.session import Session
from inspectr.verify.engine import Trust, verify_image
from inspectr.verify.report import Check, SignatureResult, Status, VerificationReport

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


# -- audit, verify, gate and behave pages (present/html_reports.py) ------------------------------

AWS_KEY_ID, AWS_SECRET = "AKIAFAKE0INSPECTR000", "FAKE/inspectr+Fixture/SecretKey/00000000"  # fixtures/audit/risky.tar's app/.env


def _audit_verdict(image: str) -> AuditVerdict:
    from inspectr.audit.engine import AuditRules, audit_image

    session = Session(cache=None)
    return AuditVerdict(audit_image(session.open_image(session.open_container(image)), AuditRules(), session=session),
                        Severity.HIGH)


def _real_pages() -> dict[str, str]:
    """One page per command from real fixtures (behave's report is built: probes need the runtime)."""
    verify = verify_image(f"dir:{FIXTURES / 'dir-busybox'}", Trust(), session=Session(cache=None))
    gate = run_gate(str(FIXTURES / "diff" / "ts0-1.tar"), str(FIXTURES / "diff" / "changed.tar"),
                    GatePolicy(require_signature=False), session=Session(cache=None))
    behave = BehaviourReport("a.tar", "b.tar", [
        ProbeOutcome(Probe("os-release", ("/bin/sh", "-c", "cat /etc/os-release")), "different",
                     {"stdout": {"a": {"text": "NAME=a\nVERSION=1\n"}, "b": {"text": "NAME=a\nVERSION=2\n"}},
                      "exit_code": {"a": 0, "b": 1}}),
        ProbeOutcome(Probe("date", ("/bin/sh", "-c", "date")), "nondeterministic-only", nondeterministic=["stdout"])])
    return {"audit": audit_html(_audit_verdict(str(FIXTURES / "audit" / "risky.tar"))), "verify": verification_html(verify),
            "gate": gate_html(gate), "behave": behaviour_html(behave)}


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return _real_pages()


@pytest.mark.parametrize("command", ["audit", "verify", "gate", "behave"])
def test_every_page_has_the_strict_csp_and_refers_to_nothing_outside_itself(pages: dict[str, str], command: str) -> None:
    page = pages[command]
    (csp,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    directives = dict(d.strip().split(" ", 1) for d in csp.replace("&#39;", "'").split(";"))
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.S)
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert directives["default-src"] == "'none'" and "unsafe" not in csp
    assert directives["style-src"] == f"'{_sha256(style)}'" and directives["script-src"] == f"'{_sha256(script)}'"
    assert f"<title>inspectr {command}: " in page
    assert not re.search(r"""\b(src|href|action|srcset|poster|data)\s*=""", page, re.I)
    assert " style=" not in page and "@import" not in page and "url(" not in page
    page.encode("ascii")


def test_the_audit_page_groups_findings_by_rule_worst_first_with_layer_provenance(pages: dict[str, str]) -> None:
    page = pages["audit"]
    rules = re.findall(r'<tr class="rule-head"><th colspan="4"><span class="badge sev-(\w+)">\w+</span> <code>([\w-]+)</code>', page)
    assert rules[:2] == [("critical", "deleted-but-present"), ("critical", "secret")] and rules[-1] == ("low", "config-exposed-port")
    assert len(rules) == 12 and page.count('<tr class="finding') == 18
    assert "layer 2: inspectr audit fixture layer 2: world-writable srv/uploads" in page
    assert "11 findings at high or worse not allowed (--fail-on high)" in page


def test_the_audit_page_never_shows_the_app_images_aws_key(pages: dict[str, str]) -> None:
    assert "aws access key (line 3)" in pages["audit"]  # the finding is there, the key is not
    for secret in (AWS_KEY_ID, AWS_SECRET, "DB_PASSWORD=", "ghp_"):
        assert secret not in pages["audit"], secret


def test_every_html_page_redacts_secrets_from_image_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clirun import run_main
    from test_secrets_output import SECRETS, _with_secrets

    image = str(_with_secrets(FIXTURES / "oci-busybox", tmp_path / "img"))
    for args in (["audit", image], ["verify", image], ["gate", "--release", str(FIXTURES / "oci-busybox"), "--rebuild", image],
                 ["diff", str(FIXTURES / "oci-busybox"), image]):
        code, out, err = run_main(capsys, "--no-cache", args[0], "-f", "html", *args[1:])
        assert code in (0, 1) and out.startswith("<!DOCTYPE html>"), err
        for secret in SECRETS:
            assert secret not in out, f"{args[0]}: a secret reached the page"
    # A secret in a finding's own text, as a rule could quote it: redacted on the page too.
    finding = Finding("secret", Severity.CRITICAL, "app/.env", 3, f"RUN echo {AWS_KEY_ID}", False,
                      f"aws_secret_access_key = {AWS_SECRET}")
    page = audit_html(AuditVerdict(AuditReport("x", "oci", [finding], Efficiency(1.0, 0, 0.0, 0)), Severity.HIGH))
    assert AWS_KEY_ID not in page and AWS_SECRET not in page and "redacted" in page


def test_the_verify_page_lists_every_check_and_signature_with_its_result(pages: dict[str, str]) -> None:
    page = pages["verify"]
    assert page.count('<tr class="st-pass">') == 8 and page.count('<tr class="st-info">') == 1
    assert "8 of 8 integrity checks passed, and 1 note" in page and "<h2>Signatures (0)</h2>" in page
    report = VerificationReport("r", "oci", [], [Check("layer-digest", "layers[0]", Status.FAIL, "mismatch", "digest-mismatch")],
                                [SignatureResult("cosign", "sig", Status.FAIL, "bad", "bad-signature")], trust_required=True).finish()
    failed = verification_html(report)
    assert "inspectr verify: <span class=\"verdict v-fail\">integrity-failed</span>" in failed
    assert "1 integrity check failed: digest-mismatch: mismatch" in failed and '<tr class="st-fail">' in failed


def test_the_gate_page_shows_each_check_and_the_diff_section(pages: dict[str, str]) -> None:
    page = pages["gate"]
    assert re.findall(r'<tr class="st-(\w+)"><td><span class="badge st-\w+">\w+</span></td><td>([^<]*)</td>', page) == [
        ("pass", "release: integrity of every blob"), ("skip", "release: signature by a required signer"),
        ("pass", "rebuild: integrity of every blob"), ("fail", "release and rebuild: diff under the policy")]
    assert "not required (no policy)" in page
    assert '<section id="changes">' in page and '<table class="counts">' in page
    data = json.loads(_split(page)[1])
    motd = next(c for c in data["changes"] if c["p"] == "etc/motd")
    assert motd["f"][0][:3] == ["sha256", "1548ea1ffb2a3935b419badb10945d8d7033ca82a83cfb349d26b653898ed112",
                                "1ac57ec27bfe3ae2a81b73b156dcada7847170e6038141c2ba622f8c91cc31cb"]
    assert "+Welcome to the inspectr diff fixture, changed version." in motd["d"]


def test_the_behave_page_shows_each_probe_and_its_differences(pages: dict[str, str]) -> None:
    page = pages["behave"]
    assert "1 of 2 probes differ: os-release" in page
    assert '<td class="tx del">-VERSION=1</td>' in page and '<td class="tx ins">+VERSION=2</td>' in page
    assert '<th>exit_code</th><td class="a">0</td><td class="b">1</td>' in page
    assert "stdout (differs between runs of A: not counted)" in page


def test_the_cli_writes_html_for_audit_verify_and_gate_and_report_html_in_the_gates_report_dir(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clirun import run_main

    for args in (["audit", str(FIXTURES / "audit" / "clean.tar")], ["verify", str(FIXTURES / "oci-busybox")],
                 ["gate", "--release", str(FIXTURES / "oci-gzip"), "--rebuild", str(FIXTURES / "oci-zstd")]):
        code, out, err = run_main(capsys, "--no-cache", args[0], "-f", "html", *args[1:])
        assert code == 0 and out.startswith("<!DOCTYPE html>") and f"inspectr {args[0]}: " in out, err
    code, out, err = run_main(capsys, "--no-cache", "gate", "--release", str(FIXTURES / "diff" / "ts0-1.tar"), "--rebuild",
                              str(FIXTURES / "diff" / "changed.tar"), "--report-dir", str(tmp_path / "r"))
    assert code == 1 and out.startswith("not-reproduced"), err
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["gate.json", "gate.junit.xml", "gate.md", "gate.sarif", "report.html"]
    page = (tmp_path / "r" / "report.html").read_text()
    assert "inspectr gate: <span class=\"verdict v-fail\">not-reproduced</span>" in page and "etc/motd" in page


# Hostile strings in every place each page shows image text.
def hostile_reports() -> dict[str, Any]:
    """An audit, verification, gate and behaviour report with HOSTILE strings in every field an
    image controls (also used by tests/test_text_report.py for the terminal)."""
    findings = [Finding("secret" if i % 2 else "setuid", Severity.CRITICAL if i % 2 else Severity.LOW, name, i, f"RUN {name}",
                        bool(i % 3), f"message {name}", allowed_by=f"allow {name}" if i % 4 == 0 else None)
                for i, name in enumerate(HOSTILE)]
    audit = AuditReport("a<script>.tar", "oci<b>", findings, Efficiency(0.5, 10, 0.1, 100, [{"path": HOSTILE[1], "count": 2,
                                                                                               "wasted_bytes": 5}]),
                        package_notices=[{"code": "x", "message": HOSTILE[0]}])
    verify = VerificationReport(HOSTILE[0], "oci", [HOSTILE[1]], [Check("layer-digest", n, Status.FAIL, f"m {n}", "digest-mismatch")
                                                                  for n in HOSTILE],
                                [SignatureResult("cosign", n, Status.FAIL, f"m {n}", None, n, n) for n in HOSTILE]).finish()
    diff = _hostile_result().difference
    gate = GateReport(HOSTILE[0], HOSTILE[1], "not-reproduced", [f"reason {n}" for n in HOSTILE],
                      [GateCheck(f"behave:{n}", f"probe {n}", "fail", f"m {n}", {"probe": n, "list": [n]}) for n in HOSTILE], diff)
    behave = BehaviourReport(HOSTILE[0], HOSTILE[1], [
        ProbeOutcome(Probe(n, ("/bin/sh", "-c", n)), "different",
                     {"stdout": {"a": {"text": f"{n}\n"}, "b": {"text": f"{n}!\n"}}, "label": {"a": n, "b": n + "x"}},
                     [n], n) for n in HOSTILE])
    return {"audit": AuditVerdict(audit, Severity.HIGH), "verify": verify, "gate": gate, "behave": behave}


def _hostile_pages() -> dict[str, str]:
    r = hostile_reports()
    return {"audit": audit_html(r["audit"]), "verify": verification_html(r["verify"]), "gate": gate_html(r["gate"]),
            "behave": behaviour_html(r["behave"])}


@pytest.mark.parametrize("command", ["audit", "verify", "gate", "behave"])
def test_hostile_strings_appear_nowhere_raw_on_any_page(command: str) -> None:
    page = _hostile_pages()[command]
    html_part = _split(page)[0] if 'id="data"' in page else page
    for raw in RAW:
        assert raw not in html_part, raw
    assert "\udce9" not in page and page.count("<script") == page.count("</script>") == (2 if 'id="data"' in page else 1)
    assert "caf\\xe9" in html_part or command == "gate"  # escaped, as the terminal shows it
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html_part


@needs_browser
@pytest.mark.parametrize("command", ["audit", "verify", "gate", "behave"])
def test_hostile_pages_run_nothing_in_chromium(browser: Any, tmp_path: Path, command: str) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    path = tmp_path / f"{command}.html"
    path.write_text(_hostile_pages()[command])
    browser.get_log("browser")
    browser.get_log("performance")
    _load(browser, path)
    for head in browser.find_elements("css selector", "#list .row .head"):
        head.click()  # the gate's diff section: every detail drawn
    browser.execute_script("document.querySelectorAll('#tree details').forEach(d => d.open = true)")
    browser.execute_script("[...document.querySelectorAll('td, th, code, .head, li, .leaf')].forEach(e => {"
                           "e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));"
                           "e.dispatchEvent(new MouseEvent('click', {bubbles: true})); })")
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    assert browser.execute_script("return document.querySelectorAll('img, svg, iframe, object, embed').length") == 0
    body = browser.find_element("tag name", "body").text
    assert "<script>window.__pwned=1</script>" in body and "srv/caf\\xe9" in body and "\x1b" not in body
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert _page_requests(browser, path.as_uri()) == [path.as_uri()]


def _page_requests(driver: Any, uri: str) -> list[str]:
    """Every request the document at `uri` made (itself included), from the performance log; the
    browser's own new-tab page traffic on a fresh profile is not the page's."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent" and message["params"].get("documentURL") == uri:
            urls.append(message["params"]["request"]["url"])
    return urls


@needs_browser
def test_audit_page_filters_by_severity_and_searches(browser: Any, pages: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "audit.html"
    path.write_text(pages["audit"])
    _load(browser, path)
    visible = "return [...document.querySelectorAll('#findings tr.finding:not([hidden])')].map(r => r.dataset.sev)"
    assert len(browser.execute_script(visible)) == 18
    before = browser.execute_script("return document.documentElement.dataset.renders")
    browser.find_element("css selector", "#severities input[data-sev='critical']").click()
    _wait(browser, "return document.documentElement.dataset.renders !== arguments[0]", before)
    shown = browser.execute_script(visible)
    assert len(shown) == 13 and "critical" not in shown
    heads = "return [...document.querySelectorAll('#findings tbody.rule:not([hidden]) code')].map(e => e.textContent)"
    assert "secret" not in browser.execute_script(heads)  # a rule with only critical findings is hidden whole
    browser.find_element("css selector", "#severities input[data-sev='critical']").click()
    before = browser.execute_script("return document.documentElement.dataset.renders")
    browser.find_element("id", "find-search").send_keys("SSH Private KEY FILE")  # case-insensitive
    _wait(browser, "return document.documentElement.dataset.renders !== arguments[0]", before)
    rows = browser.execute_script("return [...document.querySelectorAll('#findings tr.finding:not([hidden]) code')].map(e => e.textContent)")
    assert rows == ["root/.ssh/id_rsa"] and browser.find_element("id", "find-status").text == "showing 1 of 18 findings"


@needs_browser
def test_gate_page_lists_every_change_and_renders_the_motd_diff(browser: Any, pages: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "gate.html"
    path.write_text(pages["gate"])
    _load(browser, path)
    assert len(_rows(browser)) == 15 and "etc/motd" in _rows(browser)
    browser.find_element("xpath", "//div[@id='list']//span[@class='path'][text()='etc/motd']").click()
    table = browser.find_element("css selector", "#list .details table.sbs")
    cells = [td.text for td in table.find_elements("css selector", "tbody tr:not(.hunk) td")]
    assert cells == ["1", "Welcome to the inspectr diff fixture.", "1", "Welcome to the inspectr diff fixture, changed version."]


@needs_browser
def test_screenshots_of_the_audit_and_gate_pages(browser: Any, pages: dict[str, str], tmp_path: Path) -> None:
    """The pages render to something (docs/images: run with INSPECTR_SCREENSHOTS=docs/images)."""
    import os

    keep = os.environ.get("INSPECTR_SCREENSHOTS")
    for command in ("audit", "gate"):
        path = tmp_path / f"{command}.html"
        path.write_text(pages[command])
        _load(browser, path)
        if command == "gate":
            browser.find_element("xpath", "//div[@id='list']//span[@class='path'][text()='etc/motd']").click()
            browser.execute_script("document.getElementById('changes').scrollIntoView()")
        png = browser.get_screenshot_as_png()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000, command  # more than a blank page
        if keep:
            (Path(keep) / f"{command}-report.png").write_bytes(png)
