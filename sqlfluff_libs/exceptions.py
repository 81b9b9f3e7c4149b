"""sqlfluff stand-in for dbt's `exceptions`: a compiler error fails the lint of the file."""


def raise_compiler_error(msg: str) -> str:
    raise RuntimeError(msg)
