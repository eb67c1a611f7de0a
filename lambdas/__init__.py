"""AWS Lambda handlers: thin wrappers that parse an event and call plain functions.

Each module imports only the standard library and boto3 at cold start.
"""
