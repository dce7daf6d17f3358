"""audiolla-mcp: a local audio studio as an MCP server."""

__version__ = "0.1.0"
