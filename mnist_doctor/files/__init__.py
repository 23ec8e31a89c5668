"""Touching the file system safely: verified folders, the user's own links, paths from the environment,
the processes writing a file."""
