"""Subcommands of the gvpo-theory CLI, one module each."""
