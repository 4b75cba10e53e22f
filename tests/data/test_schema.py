import pytest

from shopsense.data.schema import TABLES, Column, ColumnType, EventType, Table, table


def test_every_table_has_a_key_of_its_own_columns():
    for t in TABLES.values():
        assert t.key and set(t.key) <= set(t.column_names)
        assert "CREATE TABLE" in t.ddl()


def test_event_types_are_closed():
    assert table("events").column("event_type").choices == ("view", "cart", "purchase", "rating")
    assert EventType("purchase") is EventType.PURCHASE


def test_errors_name_the_alternatives():
    with pytest.raises(KeyError, match="order_lines"):
        table("orderlines")
    with pytest.raises(ValueError, match="key columns"):
        Table("t", (Column("a", ColumnType.STRING),), key=("b",))
