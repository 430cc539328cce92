"""tests/review: the formatter, `integc diff`, CI output formats and watch mode."""
import sys
from pathlib import Path

# --import-mode=importlib: make the review_* helper modules importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
