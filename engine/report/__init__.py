"""Reports: the self-contained HTML audit report and matplotlib figures."""
