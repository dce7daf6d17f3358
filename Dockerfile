# audiolla-mcp: streamable HTTP on port 8765, workspace in /workspace.
#   docker build -t audiolla-mcp .
#   docker run -p 8765:8765 -v "$PWD/workspace:/workspace" -e AUDIOLLA_TOKEN=secret audiolla-mcp
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    AUDIOLLA_WORKSPACE=/workspace \
    AUDIOLLA_HOST=0.0.0.0 \
    AUDIOLLA_PORT=8765 \
    AUDIOLLA_HTTP=1 \
    AUDIOLLA_MODELS_DIR=/models \
    HF_HUB_OFFLINE=1

WORKDIR /app
COPY pyproject.toml constraints.txt README.md LICENSE tools.yaml ./
COPY scripts ./scripts
COPY src ./src
COPY presets ./presets
# The same installer as `scripts/run`, `scripts/test` and CI (apt packages, venv, pinned stack).
RUN ./scripts/bootstrap && rm -rf /root/.cache/pip /var/lib/apt/lists/*

# Behind a proxy or a container port map, add the public names: AUDIOLLA_ALLOWED_HOSTS=studio.example:*
VOLUME ["/workspace", "/models"]
EXPOSE 8765
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz')"
ENTRYPOINT ["/app/.venv/bin/audiolla-mcp"]
