"""The bottom of the tree: what processing, training, serving, the Lambdas and the platform all share.

Nothing here imports from the rest of the project, so every step zipapp, the
training source tarball, the model artifact's serving code and the Lambda zip can
carry it without dragging anything else along.
"""
