"""Network rules: which URLs are usable origins, which trust stores apply, reading a CA bundle bounded."""
