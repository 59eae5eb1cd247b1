"""Photo sources, data-set building and challenge folders."""
