"""The `sloth-runner` command line: typer groups, rendering, and the exit-code mapping."""
