"""The one error type that domain code raises for a failure the user can act on.

`ops`, `engines`, the workspace and audio I/O raise `ToolError` with a message that says what
was wrong and what to do next. The tool layer turns it into an MCP `isError` result; anything
else is a bug, logged with its traceback and reported to the client as a short error.
"""


class ToolError(Exception):
    """A failure the caller can fix: bad input, missing model, unsupported combination."""


class Cancelled(Exception):
    """Raised inside a worker when its call or job was cancelled; never reaches the client."""
