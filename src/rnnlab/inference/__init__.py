"""Using trained sequence models: sample text, tag sentences, translate strings.

Each takes a checkpoint path; the vocabularies travel in the checkpoint, so no data is needed.
`rnnlab.sample`, `rnnlab.tag` and `rnnlab.translate` are these functions.
"""
