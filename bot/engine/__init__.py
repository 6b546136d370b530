"""The decision core: facts, rules, evaluation and explanation.

Pure: it imports neither Slack nor Redis, and reads nothing but rule files.
"""
