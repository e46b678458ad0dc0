"""The platform's migration scripts, oldest first."""
