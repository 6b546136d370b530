"""Follow-up questions in a verdict's thread."""
