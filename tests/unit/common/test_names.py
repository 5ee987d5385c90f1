"""Words for people (issue 19): raw accounts, process ids and authorities become display names on pages."""

from __future__ import annotations

from jinja2 import Environment

from common.web.names import FILTERS, actor_label, authority_label


def test_system_county_and_staff_actors_read_as_people_do() -> None:
    people = {"reviewer": "民政局审核员", "node-1/clerk": "王晓梅", "clerk": "别处的窗口"}
    assert actor_label("system:pid30714", people) == "系统（自动分办）"
    assert actor_label("system", people) == "系统（自动分办）"
    assert actor_label("system:clock", people) == "系统（办理时限）"
    assert actor_label("central:county", people) == "县中心"
    assert actor_label("reviewer", people) == "民政局审核员"
    assert actor_label("clerk", people, "node-1") == "王晓梅"  # the centre's own clerk, not another's
    assert actor_label("clerk", people, "node-2") == "别处的窗口"
    assert actor_label("provisioning", people) == "开通时导入"
    assert actor_label("", people) == "—"
    assert authority_label("central:county") == "县中心"
    assert authority_label("node-1", {"node-1": "红梅镇便民服务中心"}) == "红梅镇便民服务中心"
    assert authority_label("node-9", {}) == "便民服务中心"


def test_the_filters_read_the_page_context() -> None:
    env = Environment(autoescape=True)
    env.filters.update(FILTERS)
    page = env.from_string("{{ a | who(n) }} / {{ n | source }} / {{ b | who }}")
    text = page.render(
        a="clerk",
        n="node-1",
        b="system:pid1",
        people={"node-1/clerk": "王晓梅"},
        node_names={"node-1": "红梅镇"},
    )
    assert text == "王晓梅 / 红梅镇 / 系统（自动分办）"
    assert env.from_string("{{ a | who }}").render(a="lead", names={"lead": "李建国"}) == "李建国"
