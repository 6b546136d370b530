"""The weekly digest of each channel's decisions: when it is due, what it says, and sending it once per period."""
