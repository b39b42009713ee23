"""Reading: documents in; books of chapters and the exact text to speak out.

Knows nothing of sockets or files written: it finds and decodes documents, splits Markdown
and plain text into chapters and turns them into speech text.
"""
