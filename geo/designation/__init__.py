"""Key-area rules: which communes the evidence says should be designated (rules.yaml, read by rules.py),
evaluated on a frame of per-commune statistics by evaluate.py. No database here: data/ops/designation_rules.py
computes the statistics and stores the proposals."""
