"""The ``narrate`` command: options in, one call to the core, a report and an exit code out."""

from narrator.cli.main import narrate_command, narrate_main

__all__ = ["narrate_command", "narrate_main"]
