"""The facts boundary: each target script's JSON answer read by shape into frozen records, once.

An answer of another shape is refused as a whole with the place named; nothing past these modules
reads a probe's answer as a dict. Not providers: the facts in ``facts/`` use them.
"""
