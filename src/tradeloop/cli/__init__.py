"""The Typer command line."""
