"""Which versions pair: the compatibility table (``data/compat.toml``) and how it is read."""
