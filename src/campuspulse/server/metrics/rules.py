"""Versions of the rules figures are computed with; responses and reports name them.

Change a version whenever a formula or a counting rule changes, so that a figure can be traced to the
arithmetic that produced it.
"""

UTILIZATION_RULES = (
    "utilization/1: domain.md; intervals [ts, min(next ts, ts + valid_s)); unknown time counts as not used"
)
COMPLIANCE_RULES = "compliance/1: domain.md; 基本 items without consumables; only 完好 units are held"
OFFERING_RULES = "offering/1: domain.md; 必做 experiments of the class's grade, term and the school's editions"
