"""Resumable runs built on the library: ``train`` (one model), ``compare`` (augmentations side by side, paired by
seed) and ``lock`` (claim files, so that several processes can share a plan of runs).

These are applications of the levels below (data, models, training); the command line drives them.
"""
