"""The HTTP boundary shared by both APIs: request ids and security headers, the body limit, and
errors answered in the format of the API a path belongs to."""
