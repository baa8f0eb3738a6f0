"""Pictures of a run: ``results.png`` (curves), ``confusion_matrix.png``, ``pr_curve.png`` and
``val_samples.png``, one module per picture family. Everything draws with matplotlib's Agg
backend (no display) and writes atomically; nothing here is imported by ``nptrain --help``."""
