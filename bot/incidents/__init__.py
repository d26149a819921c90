"""Incidents as the bot serves them: the cached service, portal links, and errors in user words."""
