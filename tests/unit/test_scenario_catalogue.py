"""The scenario catalogue (GET /api/connect/sandbox/scenarios) and the README's scenario tables
say the same: the same names in the same order, and the same words (the README's code marks
aside). Both come from the scenario modules, so a scenario added, renamed or reworded in one
place and not the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cancelgate.sandbox.schemas import CATALOGUE, SandboxScenario
from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios as nbn
from cancelgate.upstream.nbn import service_scenarios as services

README = Path(__file__).resolve().parents[2] / "README.md"
# The heading each table follows, and the catalogue's list of that kind.
TABLES = {
    "### Sandbox scenarios": "appointments",
    "### Service scenarios": "services",
    "### UX scenarios": "ux",
}
ROW = re.compile(r"^\| `(?P<name>[a-z-]+)` \| (?P<description>.*?) \| (?P<outcome>.*) \|$")


def plain(text: str) -> str:
    """Markdown cell text as the API writes it: no code marks, single spaces."""
    return " ".join(text.replace("`", "").split())


def readme_table(heading: str) -> list[tuple[str, str, str]]:
    """(name, description, outcome) of each row of the first table after the heading."""
    lines = README.read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith(heading)))
    rows: list[tuple[str, str, str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if rows and not line.startswith("|"):
            break  # the end of the table
        match = ROW.match(line)
        if match:
            rows.append((match["name"], plain(match["description"]), plain(match["outcome"])))
    return rows


def catalogued(kind: str) -> list[SandboxScenario]:
    items: list[SandboxScenario] = getattr(CATALOGUE, kind)
    return items


@pytest.mark.parametrize(("heading", "kind"), list(TABLES.items()))
def test_the_readme_table_says_what_the_catalogue_says(heading: str, kind: str) -> None:
    table = readme_table(heading)
    assert len(table) >= 7, f"no table found after {heading!r}"
    expected = [(i.scenario, i.description, i.outcome) for i in catalogued(kind)]
    assert table == expected


def test_the_catalogue_is_every_scenario_of_the_simulators_in_their_order() -> None:
    assert [i.scenario for i in CATALOGUE.appointments] == list(nbn.SCENARIOS)
    assert [i.scenario for i in CATALOGUE.services] == list(services.SCENARIOS)
    assert [i.scenario for i in CATALOGUE.ux] == list(csg.SCENARIOS)
    for module in (nbn, services, csg):
        assert tuple(module.ABOUT) == module.SCENARIOS, module.__name__
        for name, (description, outcome) in module.ABOUT.items():
            assert description.strip() and outcome.strip(), name
            assert "`" not in description + outcome, name  # plain text on the wire
