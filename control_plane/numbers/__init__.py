"""Phone numbers and phone calls as control-plane resources (Twilio's side lives in telephony)."""
