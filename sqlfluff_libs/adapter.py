"""sqlfluff stand-in for dbt's `adapter`: a dispatched macro renders as a call of its name."""

from collections.abc import Callable


def dispatch(macro_name: str, macro_namespace: str | None = None) -> Callable[..., str]:
    def render(*args: object, **kwargs: object) -> str:
        values = [str(a) for a in args] + [str(v) for v in kwargs.values()]
        return f"{macro_name}({', '.join(values)})"

    return render


def get_columns_in_relation(relation: object) -> list[object]:
    return []
