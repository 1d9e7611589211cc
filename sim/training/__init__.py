"""The alignment loop's training side: runs as datasets, fine-tuning on them, and the adapters it registers.

Importing this package imports neither torch nor TRL: `sim.training.train` loads them when a training starts.
"""
