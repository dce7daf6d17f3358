"""Compile the JIT kernels the tools use, so no user's first call pays for it.

Run once by the installer (`python -m audiolla_mcp.warmup`); numba caches the result on disk.
"""
