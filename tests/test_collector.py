"""Column reporters (`sim.collector.Column`): a whole column in one call, the values per-agent reporters give."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from sim.collector import Column, ColumnarCollector


def agents() -> list[SimpleNamespace]:
    return [SimpleNamespace(unique_id=i, active=i < 3, score=i * 1.5) for i in range(4)]


def test_a_column_by_id_reads_the_current_dict_with_defaults_and_none_for_agents_not_yet_active() -> None:
    state = {"given": {0: 5, 2: 7, 3: 9}}
    column = Column.by_id(lambda: state["given"], 0, active_only=True)
    assert column.values(agents()) == [5, 0, 7, None]
    state["given"] = {1: 4}  # a component replaces its dict every step
    assert column.values(agents()) == [0, 4, 0, None]
    assert [column(a) for a in agents()] == [0, 4, 0, None]
    assert Column.by_id(lambda: {3: "x"}).values(agents()) == [None, None, None, "x"]


def test_the_collector_records_a_column_as_it_records_the_same_values_agent_by_agent() -> None:
    given = {0: 5, 2: 7}
    model = SimpleNamespace(steps=1, everyone=agents)
    collector = ColumnarCollector(model_reporters={}, agent_reporters={
        "by_column": Column.by_id(lambda: given, 0, active_only=True),
        "by_agent": lambda a: given.get(a.unique_id, 0) if a.active else None,
        "score": "score",
        "missing": "no_such_attribute",
    })
    collector.collect(model)
    columns = collector.agent_columns
    assert columns["by_column"] == columns["by_agent"] == [5, 0, 7, None]
    assert columns["score"] == [0.0, 1.5, 3.0, 4.5]
    assert columns["missing"] == [None] * 4
    table = collector.get_agent_vars_dataframe()
    pd.testing.assert_series_equal(table["by_column"], table["by_agent"], check_names=False)
