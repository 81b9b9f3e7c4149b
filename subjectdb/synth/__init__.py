"""Stage 0 — synthetic raw extracts: the generator, its realism profiles and its defect manifest."""
