"""Resumable runs built on the library: ``train`` (one model) and ``compare`` (augmentations side by side).

These are applications of the levels below (data, models, training); the command line drives them.
"""
