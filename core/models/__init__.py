"""Model files: format detection, safety checks, loading, inspection, interfaces and MAC counts."""
