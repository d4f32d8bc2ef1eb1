"""Model file layouts: loaders of real checkpoints and generators of tiny random-weight ones."""
