"""The speech service: the sans-I/O protocol, sessions, the pool and its policy, and the
checks that a stream really voiced its text. Knows nothing of Markdown or of files."""
