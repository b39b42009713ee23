"""narrator: turn Markdown and plain-text documents into narrated, tagged audio per chapter.

The public API is what ``__all__`` names: one coroutine that runs a whole narration from a
settings object and returns a report, the settings, the events it emits, and the errors it
raises. Everything else is internal and may change between versions.
"""

# Defined before the imports below: submodules read it while the package initialises.
__version__ = "0.1.0"

from narrator.errors import (
    DocumentError,
    FatalServiceError,
    Interrupted,
    NarratorError,
    OutputError,
    ServiceError,
    TransientServiceError,
    UsageError,
)
from narrator.events import Event, EventSink
from narrator.report import Report
from narrator.run import narrate
from narrator.settings import (
    ParseOptions,
    RunSettings,
    ServiceSettings,
    SpeechSettings,
    VoiceSettings,
)

__all__ = [
    "DocumentError",
    "Event",
    "EventSink",
    "FatalServiceError",
    "Interrupted",
    "NarratorError",
    "OutputError",
    "ParseOptions",
    "Report",
    "RunSettings",
    "ServiceError",
    "ServiceSettings",
    "SpeechSettings",
    "TransientServiceError",
    "UsageError",
    "VoiceSettings",
    "__version__",
    "narrate",
]
