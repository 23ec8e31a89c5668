"""The dataset table and what a correct file is: spec, cache layout, verification, npz reading."""
