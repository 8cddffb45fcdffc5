"""Unlearning recipes that make comparable variants of the bundled model (see run_all.py):
fmn (Forget-Me-Not), erasediff (EraseDiff), duge (continual, DUGE-style), uniforget (mask presets)."""
