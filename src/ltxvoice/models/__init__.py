"""Model file layouts: loaders of real checkpoints and generators of tiny random-weight ones (written
by stage ``tiny_models``, see :mod:`ltxvoice.tiny_models`)."""
