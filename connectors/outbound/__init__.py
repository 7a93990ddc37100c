"""Outbound calls under the egress policy:
pinned HTTP and SMTP, the http_request activity, notifications.
"""
