"""The one schema of the shopsense store.

Every table a shop can load is declared here once: its columns, their types, which are
required, and which columns identify a row (used to skip rows already stored when a file
is ingested twice). Readers, the store, the loaders of public data sets and the views all
import these declarations instead of spelling column names again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """Logical column types; each maps to one DuckDB type."""

    STRING = "VARCHAR"
    INTEGER = "BIGINT"
    FLOAT = "DOUBLE"
    TIMESTAMP = "TIMESTAMP"
    BOOLEAN = "BOOLEAN"


class EventType(StrEnum):
    """What a user did with an item."""

    VIEW = "view"
    CART = "cart"
    PURCHASE = "purchase"
    RATING = "rating"


class ItemKind(StrEnum):
    """What a catalogue entry is. Only products are recommended, forecast and priced; the
    rest (postage, fees, vouchers, bookkeeping) still count in orders and anomalies."""

    PRODUCT = "product"
    SHIPPING = "shipping"
    FEE = "fee"
    VOUCHER = "voucher"
    ADJUSTMENT = "adjustment"


class LineType(StrEnum):
    """What an order line does: sells, takes a sale back, or corrects the books."""

    SALE = "sale"
    RETURN = "return"
    CANCELLATION = "cancellation"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class Column:
    """One column of a table.

    `choices` restricts a string column to a closed set of values (e.g. event types).
    """

    name: str
    type: ColumnType
    required: bool = False
    description: str = ""
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    """A table of the store.

    `key` names the columns that identify a row. When `upsert` is true a row whose key is
    already stored replaces it (catalogue data changes: a new price replaces the old one);
    otherwise a row whose key is already stored is skipped (logs are append-only).
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    upsert: bool = False
    description: str = ""
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        unknown = set(self.key) - set(self.column_names)
        if unknown:
            raise ValueError(f"table {self.name}: key columns {sorted(unknown)} are not columns")

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")

    def ddl(self) -> str:
        """`CREATE TABLE` statement for DuckDB."""
        cols = ",\n  ".join(
            f'"{c.name}" {c.type.value}{" NOT NULL" if c.required else ""}' for c in self.columns
        )
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'


S, I, F, T, B = (  # noqa: E741 - one letter per type keeps the tables readable
    ColumnType.STRING,
    ColumnType.INTEGER,
    ColumnType.FLOAT,
    ColumnType.TIMESTAMP,
    ColumnType.BOOLEAN,
)

EVENTS = Table(
    name="events",
    description="What users did with items: the log every recommender learns from.",
    columns=(
        Column("user_id", S, True, "who acted"),
        Column("item_id", S, True, "on which item"),
        Column("event_type", S, True, "view, cart, purchase or rating", tuple(EventType)),
        Column("value", F, False, "rating value, or quantity for purchases; empty means 1"),
        Column("timestamp", T, True, "when, in UTC (an offset in the input is converted)"),
        Column("session_id", S, False, "browsing session, if known"),
    ),
    # A log row is identified by everything it says: the same line loaded twice is one row.
    key=("user_id", "item_id", "event_type", "value", "timestamp", "session_id"),
)

ITEMS = Table(
    name="items",
    description="The catalogue.",
    columns=(
        Column("item_id", S, True),
        Column("title", S),
        Column("category", S),
        Column("brand", S),
        Column("price", F),
        Column("description", S),
        Column("image_path", S, False, "path of the product photo, relative to the store"),
        Column(
            "kind",
            S,
            False,
            "product, shipping, fee, voucher or adjustment; empty means product",
            tuple(ItemKind),
        ),
    ),
    key=("item_id",),
    upsert=True,
)

USERS = Table(
    name="users",
    description="Customers and what is known about them.",
    columns=(
        Column("user_id", S, True),
        Column("country", S),
        Column("age", I),
        Column("gender", S),
        Column("occupation", S),
        Column("signup_time", T),
    ),
    key=("user_id",),
    upsert=True,
)

ORDERS = Table(
    name="orders",
    description="One row per invoice; cancellations are orders with cancelled = true.",
    columns=(
        Column("invoice_id", S, True),
        Column("customer_id", S, False, "empty for guest checkouts"),
        Column("time", T, True),
        Column("country", S),
        Column("cancelled", B, False, "true for a cancellation / credit note"),
    ),
    key=("invoice_id",),
    upsert=True,
)

ORDER_LINES = Table(
    name="order_lines",
    description="Invoice lines: what was sold, how many, at what unit price.",
    columns=(
        Column("invoice_id", S, True),
        Column("item_id", S, True),
        Column("quantity", I, True, "units; negative on returns, cancellations, adjustments"),
        Column("unit_price", F, True),
        Column("time", T, True),
        Column("customer_id", S),
        Column("country", S),
        Column(
            "line_type",
            S,
            False,
            "sale, return, cancellation or adjustment; empty: sale if quantity > 0, else return",
            tuple(LineType),
        ),
        Column("reverses_invoice", S, False, "the sale invoice a return or cancellation undoes"),
        Column("currency", S, False, "ISO 4217 code of unit_price, e.g. GBP"),
    ),
    key=("invoice_id", "item_id", "quantity", "unit_price", "time", "customer_id", "country"),
)

IMAGES = Table(
    name="images",
    description="Product photos: which file shows which item, and the category it is listed under.",
    columns=(
        Column("item_id", S, True),
        Column(
            "path",
            S,
            True,
            "image file (PNG/JPEG), absolute or relative to the store's folder; "
            "an image inside an IDX archive is written <file>#<index>",
        ),
        Column("label", S, False, "category the item is listed under, if known"),
        Column("width", I, False, "pixels"),
        Column("height", I, False, "pixels"),
    ),
    key=("item_id", "path"),
    upsert=True,
)

REVIEWS = Table(
    name="reviews",
    description="What customers wrote about items, with their rating.",
    columns=(
        Column("review_id", S, True),
        Column("item_id", S, True),
        Column("user_id", S),
        Column("rating", F, False, "stars (1-5), or 0/1 where a corpus has only polarity"),
        Column("title", S),
        Column("text", S, True),
        Column("time", T),
        Column("language", S, False, "ISO 639-1 code, e.g. en or zh"),
        Column("recommended", B, False, "the reviewer recommends the item, where asked"),
        Column("category", S, False, "product category the review was written under"),
    ),
    key=("review_id",),
    upsert=True,
)

QUESTIONS = Table(
    name="questions",
    description="Customers' questions about items and the answers they got.",
    columns=(
        Column("question_id", S, True),
        Column("item_id", S, True),
        Column("question", S, True),
        Column("answer", S),
        Column("time", T),
        Column("language", S, False, "ISO 639-1 code"),
    ),
    key=("question_id",),
    upsert=True,
)

TABLES: dict[str, Table] = {
    t.name: t for t in (EVENTS, ITEMS, USERS, ORDERS, ORDER_LINES, IMAGES, REVIEWS, QUESTIONS)
}


def table(name: str) -> Table:
    """The table called `name`, with an error that lists the valid names."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}") from None
