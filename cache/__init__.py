"""Opt-in LLM response cache whose hits show up in traces and reports."""
