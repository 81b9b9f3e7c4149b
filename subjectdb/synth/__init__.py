"""Stage 0 — synthetic raw extracts: the generator, its realism profiles and its defect manifest.

``generate`` (in :mod:`subjectdb.synth.run`) writes the extracts; the modules beside it hold
one step each: reference data, calendar, array helpers, persons, enterprises, cases, defects,
sinks. The national check characters it writes live in :mod:`subjectdb.standards`.
"""

from subjectdb.contract import COLUMNS
from subjectdb.synth.addresses import address_code_table, all_region_names
from subjectdb.synth.defects import DEFECT_KINDS, FILE_LEVEL_KINDS, STRUCTURAL_KINDS
from subjectdb.synth.errors import GenerateError
from subjectdb.synth.persons import resident_id_matrix
from subjectdb.synth.run import FORMATS, MANIFEST_COLUMNS, GenerateResult, generate, parse_years

__all__ = [
    "COLUMNS",
    "DEFECT_KINDS",
    "FILE_LEVEL_KINDS",
    "FORMATS",
    "MANIFEST_COLUMNS",
    "STRUCTURAL_KINDS",
    "GenerateError",
    "GenerateResult",
    "address_code_table",
    "all_region_names",
    "generate",
    "parse_years",
    "resident_id_matrix",
]
