"""The Twilio calls-per-core benchmark's processes: server under test, simulated Twilio."""
