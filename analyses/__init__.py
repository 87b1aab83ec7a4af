"""One script per figure (``python -m analyses.<name> --help``); ``make_all`` runs them all."""
