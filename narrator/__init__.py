"""narrator: turn Markdown and plain-text documents into narrated, tagged audio per chapter."""

__version__ = "0.1.0"
