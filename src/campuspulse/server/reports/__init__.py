"""Reports for the commission: every indicator of a scope and period in one file, issued with a hash."""
