"""``python -m narrator`` is the ``narrate`` command."""

from narrator.cli.main import narrate_main

if __name__ == "__main__":
    narrate_main()
