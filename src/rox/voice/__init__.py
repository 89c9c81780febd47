"""Voice of the customer: redaction, language, sentiment and themes of free-text comments."""
