"""The base games, one module each; every module registers its environment in `ENVIRONMENTS` under its ``kind:``."""
