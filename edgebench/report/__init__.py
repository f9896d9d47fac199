"""Reports of stored runs: one typed model of a run (rows.py), laid out as a terminal table, Markdown, JSON/CSV
or a plot, with the FD-MobileNet paper's speedups beside ours (paper.py)."""
