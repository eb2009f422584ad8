"""Hypothesis properties: each test states one security law of the token core."""
