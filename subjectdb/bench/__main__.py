"""``python -m subjectdb.bench``: the benchmark harness's command line."""

from __future__ import annotations

import sys

from subjectdb.bench.cli import main

sys.exit(main())
