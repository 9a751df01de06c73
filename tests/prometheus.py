"""Reading what `/metrics` exposes, and which metrics a PromQL expression queries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "cancelgate.json"
ALERTS = DEPLOY / "prometheus" / "cancelgate-alerts.yml"

# Words of PromQL that are not metric names where a name could stand.
KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
     "group_right", "inf", "nan"}
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_WORD = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: every identifier that is not a function or
    aggregation (followed by `(`), a keyword, part of a number or duration, or inside a string,
    a label matcher, a range or a grouping clause."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _WORD.finditer(text):
        word, start = match.group(), match.start()
        if start > 0 and (text[start - 1].isdigit() or text[start - 1] in "._$"):
            continue  # 5m, 1e3, 0.5, $variable
        if text[match.end() :].lstrip().startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[Samples, set[str]]:
    """Every sample by (name, labels), and every name a query may use: each sample's, and each
    declared family's (a counter's `_total`, a histogram's `_bucket`, `_sum` and `_count`) even
    before it has a sample."""
    samples: Samples = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        for sample in family.samples:
            names.add(sample.name)
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, names


class Scrape:
    """One scrape of `/metrics`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples, self.names = parse(text)

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels (0 when absent: not counted yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_values(self, name: str, label: str) -> set[str]:
        """Every value `label` takes on samples of `name`."""
        return {
            dict(labels).get(label, "") for sample, labels in self.samples if sample == name
        } - {""}


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> Scrape:
    """GET /metrics, checked to answer the Prometheus text format."""
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


def scrape_sync(url: str) -> Scrape:
    """`scrape` from a thread without an event loop (the e2e tests)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    """Every query of a Grafana dashboard, in panels and in rows' panels."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield str(target["expr"])


def alert_exprs(rules: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(alert name, expression) of every rule of a Prometheus rules file."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield str(rule.get("alert") or rule.get("record")), str(rule["expr"])
