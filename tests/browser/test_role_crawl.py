"""Every role's pages at both ends, crawled in a real headless Chromium on a 1280×800 tablet (issue 19, acceptance 2).

Each role logs in at its end (node: window, logistics, lead, node admin; central: reviewer, supervisor, admin) and
follows the same-origin links from its home, breadth first, one page per kind of address (a case's page stands for
every case's), a bounded number of pages. Every link found on a page is fetched: none may answer 4xx. On every page
visited:

- every visible button, link, radio, checkbox and 更多 is at least 44×44 CSS px, or lies inside a target of that
  size that does the same thing (its <label>, or a whole row marked data-href that opens the same address);
- the menu stays on one line at 1280 px;
- the body holds no JSON and no English word outside a fixed allow-list (product names, file extensions, units).

Central and the node run as real processes; one case is received and accepted first (through the node's API), so
that the case pages at both ends exist. Failures are collected and reported together, per role and page.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from provisioning.county import StaffSpec, add_central_user, add_node, catalogue_departments, init_county
from tests.browser.conftest import CHROMIUM_ARGS, SHOTS, TABLET, shot
from tests.support import (
    VALID_IDS,
    CountySetup,
    enroll_node_process,
    free_port,
    require_tool,
    spawn_central,
    spawn_node,
    stop,
    wait_healthy,
)
from tests.unit.protocol.test_archive import pdf

NODE_ROLES = {  # username → role, password "<username>-pass-1"
    "clerk": "window",
    "porter": "logistics",
    "lead": "lead",
    "nodeadmin": "node_admin",
}
CENTRAL_ROLES = {"reviewer": "reviewer", "watch": "supervisor", "admin": "admin"}
#: The node admin and the county admin set up machines and accounts, the supervisor reads the audit trail: they
#: may see machine text, in <code>.
TECHNICAL = {"nodeadmin", "admin", "watch"}
PAGES_PER_ROLE = 40
MIN_TARGET = 44.0
#: English words a page may show: product and standard names, file extensions, units.
ALLOWED_WORDS = {
    "pdf", "PDF", "zip", "ZIP", "png", "PNG", "jpg", "JPG", "jpeg", "USB", "QR", "ID", "OneWindow", "Edge", "HTTP",
    "HTTPS", "CA", "SM", "KB", "MB", "GB", "ms", "BagIt",
    "zdsh",  # the item search's example of pinyin initials (最低生活保障)
}  # fmt: skip
#: Addresses a crawl does not open: leaving the session, and the hardware simulator's own pages.
SKIP = re.compile(r"^/(logout|static/|devices/sim)")

MEASURE = """
() => {
  const out = [];
  let measured = 0;
  const big = (r) => r.width >= 44 - 0.5 && r.height >= 44 - 0.5;
  const selector = 'a[href], button, input[type=radio], input[type=checkbox], input[type=submit], summary';
  for (const el of document.querySelectorAll(selector)) {
    if (el.closest('[hidden], .sr-only')) { continue; }
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) { continue; }
    measured += 1;
    if (big(r)) { continue; }
    // a radio or checkbox inside (or named by) a label of that size: the label is the target
    const label = el.closest('label') || (el.id && document.querySelector('label[for="' + el.id + '"]'));
    if (label && big(label.getBoundingClientRect())) { continue; }
    // a link in a whole row that opens the same address
    const row = el.closest('[data-href]');
    if (row && el.tagName === 'A' && row.getAttribute('data-href') === el.getAttribute('href')
        && big(row.getBoundingClientRect())) { continue; }
    const text = (el.textContent || el.value || el.getAttribute('aria-label') || el.name || el.tagName).trim();
    out.push(el.tagName.toLowerCase() + ' 「' + text.slice(0, 24) + '」 ' + Math.round(r.width) + '×' + Math.round(r.height));
  }
  return {small: out, measured: measured};
}
"""

#: The page's text; for the technical roles without the machine text they alone see in <code> (fingerprints,
#: addresses, commands, login names).
TEXT = """
(technical) => {
  const hidden = technical ? Array.from(document.querySelectorAll('code')) : [];
  for (const el of hidden) { el.style.display = 'none'; }
  const text = document.body.innerText;
  for (const el of hidden) { el.style.display = ''; }
  return text;
}
"""

MENU_LINES = """
() => {
  const nav = document.querySelector('header.top nav');
  if (!nav) { return 1; }
  const tops = new Set();
  for (const child of nav.children) {
    const r = child.getBoundingClientRect();
    if (r.width > 0) { tops.add(Math.round(r.top / 10)); }
  }
  const header = document.querySelector('header.top').getBoundingClientRect();
  return header.height > 90 ? 2 : tops.size;
}
"""


@dataclass
class Crawl:
    visited: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    targets: int = 0  # visible controls measured


@dataclass
class Served:
    chromium: str
    node_url: str
    central_url: str


def _kind(path: str) -> str:
    """One page per kind of address: ids and numbers become *, the query's keys (not values) stay."""
    parts = urlsplit(path)
    shape = re.sub(r"/[0-9A-Za-z_-]*\d[0-9A-Za-z_-]*(?=/|$)", "/*", parts.path)
    keys = sorted(k.split("=")[0] for k in parts.query.split("&") if k)
    return shape + ("?" + "&".join(keys) if keys else "")


def _english(text: str) -> list[str]:
    """English words outside the allow-list, each with its surroundings (a token with a digit in it, such as a
    case number's hex tail or a version, is not a word)."""
    found = []
    for match in re.finditer(r"(?<![A-Za-z0-9_.-])[A-Za-z]{2,}(?![A-Za-z0-9_-])", text):
        if match.group() not in ALLOWED_WORDS:
            found.append(text[max(0, match.start() - 12) : match.end() + 12].replace("\n", " "))
    return found


def _login(page: Page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-pass-1")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, f"{username} could not log in: {page.locator('main').inner_text()}"


def crawl(context: BrowserContext, base: str, username: str) -> Crawl:
    page = context.new_page()
    _login(page, base, username)
    home = urlsplit(page.url).path
    result = Crawl()
    queue = [home]
    kinds: set[str] = {_kind(home)}
    checked: dict[str, bool] = {}  # address → answers a page (HTML)
    while queue and len(result.visited) < PAGES_PER_ROLE:
        path = queue.pop(0)
        response = page.goto(base + path)
        assert response is not None
        where = f"{username} {path}"
        if response.status >= 400:
            result.faults.append(f"{where}: answered {response.status}")
            continue
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        if "/login" in urlsplit(page.url).path:
            result.faults.append(f"{where}: sent to the login page")
            _login(page, base, username)
            continue
        page.wait_for_load_state("load")
        page.wait_for_timeout(150)  # HTMX panels that load at once
        result.visited.append(path)
        measured = page.evaluate(MEASURE)
        result.targets += measured["measured"]
        for small in measured["small"]:
            result.faults.append(f"{where}: target under 44×44: {small}")
        lines = page.evaluate(MENU_LINES)
        if lines > 1:
            result.faults.append(f"{where}: the menu wraps ({lines} lines)")
        body = page.evaluate(TEXT, username in TECHNICAL)
        if re.search(r"\{\s*\"[a-z_]+\"\s*:", body):
            result.faults.append(f"{where}: JSON in the page")
        english = _english(body)
        if english:
            result.faults.append(f"{where}: English words {english[:6]}")
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        for href in links:
            url = urljoin(page.url, href)
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" != base or SKIP.match(parts.path):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in checked:
                answer = context.request.get(base + target, max_redirects=0)
                checked[target] = "text/html" in answer.headers.get("content-type", "")
                if answer.status >= 400:
                    result.faults.append(f"{where}: link {target} answers {answer.status}")
            kind = _kind(target)
            if checked[target] and kind not in kinds:
                kinds.add(kind)
                queue.append(target)
        shot(page, f"crawl-{username}-{len(result.visited):02d}")
    page.close()
    return result


def _provision(root: Path, central_url: str) -> CountySetup:
    county = init_county(root / "county", name="梅河口市", division="220581", admin_password="admin-pass-1")
    departments = catalogue_departments(county.catalogue())
    civil = next(code for code, name in departments.items() if "民政局" in name)
    add_central_user(
        county,
        username="reviewer",
        display_name="民政局审核员",
        role="reviewer",
        password="reviewer-pass-1",
        department=civil,
    )
    add_central_user(
        county, username="watch", display_name="督查员", role="supervisor", password="watch-pass-1"
    )
    names = {"window": "王晓梅", "logistics": "赵志强", "lead": "李建国", "node_admin": "孙立"}
    staff = [
        StaffSpec(u, names[role], role, f"{u}-pass-1", authorities=("*",) if role == "lead" else ())
        for u, role in NODE_ROLES.items()
    ]
    bundle = add_node(
        county,
        name="测试1号便民服务中心",
        division="220581101000",
        central_urls=[central_url],
        out=root / "node1.bundle",
        staff=staff,
    )
    return CountySetup(root, county, [bundle])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    chromium = require_tool("chromium")
    central_port, node_port = free_port(), free_port()
    central_url, node_url = f"http://127.0.0.1:{central_port}", f"http://127.0.0.1:{node_port}"
    setup = _provision(tmp_path, central_url)
    node_dir = tmp_path / "node1"
    enroll_node_process(setup.bundles[0], node_dir)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        central = spawn_central(setup, tmp_path / "central", central_port, logs / "central.log")
        processes.append(central)
        wait_healthy(central_url, central)
        node = spawn_node(node_dir, node_port, logs / "node.log")
        processes.append(node)
        wait_healthy(node_url, node)
        yield Served(chromium, node_url, central_url)
    finally:
        for process in reversed(processes):
            stop(process)
        for log in sorted(logs.glob("*.log")):
            print(f"---- {log.name} ----\n{log.read_text(encoding='utf-8', errors='replace')[-6000:]}")


def _accept_a_case(context: BrowserContext, node: str) -> str:
    api = context.request
    login = api.post(f"{node}/api/v1/login", data={"username": "clerk", "password": "clerk-pass-1"})
    assert login.status == 200, login.text()
    item = api.get(f"{node}/api/v1/items", params={"q": "zdsh"}).json()["items"][0]
    case = api.post(
        f"{node}/api/v1/cases",
        data={
            "item_code": item["code"],
            "applicant": {"name": "张伟", "cert_type": "111", "cert_number": VALID_IDS[0]},
        },
    ).json()
    for material in item["materials"]:
        attached = api.post(
            f"{node}/api/v1/cases/{case['case_id']}/materials",
            multipart={
                "material_id": material["id"],
                "file": {"name": f"{material['id']}.pdf", "mimeType": "application/pdf", "buffer": pdf()},
            },
        )
        assert attached.status == 201, attached.text()
    accepted = api.post(f"{node}/api/v1/cases/{case['case_id']}/accept")
    assert accepted.status == 200, accepted.text()
    context.clear_cookies()
    return str(case["case_number"])


def _wait_at_central(context: BrowserContext, central: str, number: str) -> None:
    page = context.new_page()
    _login(page, central, "admin")
    deadline = time.monotonic() + 40
    while number not in page.content():
        assert time.monotonic() < deadline, "the case never reached central"
        page.wait_for_timeout(500)
        page.goto(f"{central}/cases")
    page.close()
    context.clear_cookies()


@pytest.mark.slow
def test_every_page_of_every_role_fits_a_finger_and_speaks_chinese(served: Served) -> None:
    faults: list[str] = []
    visited: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=served.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            seed = browser.new_context(viewport=TABLET, locale="zh-CN")
            number = _accept_a_case(seed, served.node_url)
            _wait_at_central(seed, served.central_url, number)
            seed.close()
            ends = [(served.node_url, u) for u in NODE_ROLES] + [
                (served.central_url, u) for u in CENTRAL_ROLES
            ]
            for base, username in ends:
                context = browser.new_context(viewport=TABLET, locale="zh-CN")
                context.set_default_timeout(15_000)
                found = crawl(context, base, username)
                context.close()
                assert len(found.visited) >= 3 and found.targets > 20, (
                    username,
                    found.visited,
                    found.targets,
                )
                visited.append(
                    f"{username}: {len(found.visited)} pages, {found.targets} targets measured: "
                    + " ".join(found.visited)
                )
                faults += found.faults
            # A form the browser checks (central's login) speaks Chinese whatever the browser's language.
            english = browser.new_context(viewport=TABLET, locale="en-US")
            page = english.new_page()
            page.goto(f"{served.central_url}/login")
            page.click("button[type=submit]")
            assert page.eval_on_selector("#username", "el => el.validationMessage") == "请填写此项"
            english.close()
        finally:
            browser.close()
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "crawl-summary.txt").write_text("\n".join(visited + faults) + "\n", encoding="utf-8")
    assert not faults, f"{len(faults)} faults:\n" + "\n".join(faults)
