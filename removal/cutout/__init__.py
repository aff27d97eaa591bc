"""The image core: decode, model sessions, mask clean-up, compose, encode. Imports nothing from Django."""
