"""Fault injection for the operator (`make chaos`): see chaos/run.py."""
