"""Published studies edgebench reproduces: their claims and the structure rules that are study data, not
general code."""
