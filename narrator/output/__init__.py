"""Output: chapter files written atomically and tagged, the manifest and the plan it gives a
rerun, and the folder lock. Knows nothing of sockets or Markdown."""
