"""sqlfluff stand-in for dbt's cross-database macros (`dbt.type_string()` ...): DuckDB SQL."""


def type_string() -> str:
    return "varchar"


def type_int() -> str:
    return "integer"


def type_bigint() -> str:
    return "bigint"


def type_float() -> str:
    return "double"


def type_numeric() -> str:
    return "numeric(28, 6)"


def type_timestamp() -> str:
    return "timestamp"


def type_boolean() -> str:
    return "boolean"


def safe_cast(field: str, type: str) -> str:  # noqa: A002 (dbt's argument name)
    return f"try_cast({field} as {type})"


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def concat(fields: list[str]) -> str:
    return " || ".join(fields)
