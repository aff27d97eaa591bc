"""`make bench`: bgsite against rembg on the same machine, images and model (see bench/run.py)."""

import sys
from pathlib import Path

# The bgsite client (client/) as `bgsite remove` runs from the source tree: it is not installed in bgsite's venv.
sys.path.append(str(Path(__file__).resolve().parent.parent / "client"))
