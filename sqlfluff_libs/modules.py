"""sqlfluff stand-in for dbt's `modules` (the Python modules dbt exposes to Jinja)."""

import datetime
import re

__all__ = ["datetime", "re"]
