"""Litesmith's desktop app: presents what the core engine computes; computes nothing itself."""
