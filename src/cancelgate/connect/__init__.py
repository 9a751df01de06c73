"""Connect API conventions shared by every Connect endpoint."""
