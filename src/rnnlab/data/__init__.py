"""Data: IDX files, the MNIST family as sequences, text and tagging corpora."""
