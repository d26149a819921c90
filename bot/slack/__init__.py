"""The Slack side: the Bolt app, its thin listeners, Socket Mode start-up and readiness."""
