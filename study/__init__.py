"""The GlaS augmentation study: research that uses the library, beside it in the repository (not installed).

It is a user of :mod:`keras_hsmix.runs.compare` (the machinery of ``keras-hsmix compare``) and adds the GlaS
specifics: the method registry with its ablations (:mod:`study.methods`), seeds per fraction and robustness
(:mod:`study.config`), the validation selections and statistics (:mod:`study.selection`), the report
``docs/results.md`` (:mod:`study.report`, :mod:`study.plots`) and per-image traces (:mod:`study.trace`).
Its run records live in ``study/results/``. Run it from the repository root: ``python -m study --help``.
"""
