"""`make bench`: bgsite against rembg on the same machine, images and model (see bench/run.py)."""
