"""sqlfluff stand-in for dbt's `api` (`api.Column.translate_type`)."""


class Column:
    @staticmethod
    def translate_type(dtype: str) -> str:
        return dtype
