"""The figures: utilization (and, later, compliance and experiment offering) from the store."""
