"""What runs leave: typed results, the SQLite store, sample statistics, baselines and the check against them."""
