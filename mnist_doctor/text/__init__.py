"""Everything about text that leaves the doctor: the one exit, redaction, units, hints."""
