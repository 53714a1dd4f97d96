"""CAP telephony."""
